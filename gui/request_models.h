// Table models of the routes and requests of a loaded session. Both return display text
// for Qt::DisplayRole and raw numbers for kSortRole, so a QSortFilterProxyModel sorts
// bytes and times as numbers.
#pragma once

#include <routeheap/analysis/session_view.h>

#include <QAbstractTableModel>
#include <QColor>

#include <optional>
#include <vector>

namespace routeheap::gui {

inline constexpr int kSortRole = Qt::UserRole;
// The index of the row's request in SessionAnalysis::requests (requests model), or of
// the route in RoutesModel::routes() (routes model).
inline constexpr int kItemIndexRole = Qt::UserRole + 1;

// The colour a request or route is shaded with: by the confidence of its worst finding,
// or neutral when it has none.
QColor finding_color(const analysis::Finding* finding);
// "buffered-response (high)", or "" when there is no finding.
QString finding_text(const analysis::Finding* finding);

class RoutesModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Method, Route, Requests, GrowthP50, GrowthMax, BytesIn, BytesOut, WorstFinding, ColumnCount };

    explicit RoutesModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    // Shows the given routes (all routes, or those of a time range).
    void set_routes(std::vector<analysis::RouteSummary> routes);
    const std::vector<analysis::RouteSummary>& routes() const { return routes_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::vector<analysis::RouteSummary> routes_;
};

class RequestsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Start, Method, Path, Status, DurationMs, PeakGrowth, BytesIn, BytesOut, Finding, ColumnCount };

    explicit RequestsModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    // Shows the requests at `indices` of `analysis` (which must outlive the model or be
    // replaced first); times are shown in seconds after `origin_ns`.
    void set_requests(const analysis::SessionAnalysis* analysis, std::vector<size_t> indices, uint64_t origin_ns);
    const analysis::Request* request_at(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    const analysis::SessionAnalysis* analysis_ = nullptr;
    std::vector<size_t> indices_;
    uint64_t origin_ns_ = 0;
};

}  // namespace routeheap::gui
