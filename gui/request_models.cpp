// Routes and requests table models.
#include "request_models.h"

#include <routeheap/analysis/report.h>

namespace routeheap::gui {

namespace {

QString bytes_text(int64_t bytes) { return QString::fromStdString(analysis::format_bytes(bytes)); }

}  // namespace

QColor finding_color(const analysis::Finding* finding) {
    if (finding == nullptr) return QColor(120, 170, 120);
    switch (finding->confidence) {
        case analysis::Confidence::High: return QColor(220, 50, 40);
        case analysis::Confidence::Medium: return QColor(240, 140, 30);
        case analysis::Confidence::Low: return QColor(220, 200, 40);
    }
    return QColor(120, 170, 120);
}

QString finding_text(const analysis::Finding* finding) {
    if (finding == nullptr) return {};
    return QString::fromStdString(finding->kind) + " (" + analysis::confidence_name(finding->confidence) + ")";
}

void RoutesModel::set_routes(std::vector<analysis::RouteSummary> routes) {
    beginResetModel();
    routes_ = std::move(routes);
    endResetModel();
}

int RoutesModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(routes_.size());
}

int RoutesModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RoutesModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const analysis::RouteSummary& route = routes_[static_cast<size_t>(index.row())];
    const analysis::RouteFinding* worst = analysis::worst_finding(route);
    const analysis::Finding* finding = worst != nullptr ? &worst->worst : nullptr;
    if (role == kItemIndexRole) return index.row();
    if (role == Qt::DecorationRole && index.column() == WorstFinding) return finding_color(finding);
    if (role == Qt::TextAlignmentRole && index.column() >= Requests && index.column() <= BytesOut) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    }
    const bool sort = role == kSortRole;
    if (role != Qt::DisplayRole && !sort) return {};
    switch (index.column()) {
        case Method: return QString::fromStdString(route.method);
        case Route: return QString::fromStdString(route.route);
        case Requests: return route.requests;
        case GrowthP50: return sort ? QVariant(qint64(route.peak_growth_p50)) : bytes_text(route.peak_growth_p50);
        case GrowthMax: return sort ? QVariant(qint64(route.peak_growth_max)) : bytes_text(route.peak_growth_max);
        case BytesIn:
            return sort ? QVariant(quint64(route.request_bytes.total)) : bytes_text(int64_t(route.request_bytes.total));
        case BytesOut:
            return sort ? QVariant(quint64(route.response_bytes.total)) : bytes_text(int64_t(route.response_bytes.total));
        case WorstFinding:
            if (sort) return finding == nullptr ? -1 : static_cast<int>(finding->confidence);
            if (worst == nullptr) return QString();
            return finding_text(finding) + QStringLiteral(" in %1 of %2").arg(worst->requests).arg(route.requests);
    }
    return {};
}

QVariant RoutesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Method", "Route", "Requests", "Peak growth p50", "Peak growth max",
                                         "Bytes in", "Bytes out", "Worst finding"};
    return section >= 0 && section < ColumnCount ? QString(kNames[section]) : QVariant();
}

void RequestsModel::set_requests(const analysis::SessionAnalysis* analysis, std::vector<size_t> indices,
                                 uint64_t origin_ns) {
    beginResetModel();
    analysis_ = analysis;
    indices_ = std::move(indices);
    origin_ns_ = origin_ns;
    endResetModel();
}

const analysis::Request* RequestsModel::request_at(int row) const {
    if (analysis_ == nullptr || row < 0 || row >= rowCount()) return nullptr;
    return &analysis_->requests[indices_[static_cast<size_t>(row)]];
}

int RequestsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(indices_.size());
}

int RequestsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RequestsModel::data(const QModelIndex& index, int role) const {
    const analysis::Request* request = request_at(index.row());
    if (!index.isValid() || request == nullptr) return {};
    const analysis::Finding* finding = analysis::worst_finding(*request);
    if (role == kItemIndexRole) return qulonglong(indices_[static_cast<size_t>(index.row())]);
    if (role == Qt::DecorationRole && index.column() == Finding) return finding_color(finding);
    if (role == Qt::TextAlignmentRole && index.column() != Method && index.column() != Path &&
        index.column() != Finding) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    }
    const bool sort = role == kSortRole;
    if (role != Qt::DisplayRole && !sort) return {};
    const double start_s =
        request->start_ns >= origin_ns_ ? static_cast<double>(request->start_ns - origin_ns_) / 1e9 : 0.0;
    switch (index.column()) {
        case Start: return sort ? QVariant(start_s) : QString::number(start_s, 'f', 3);
        case Method: return QString::fromStdString(request->method);
        case Path: return QString::fromStdString(analysis::printable_request_text(request->path));
        case Status: return request->status;
        case DurationMs: return sort ? QVariant(request->duration_ms()) : QString::number(request->duration_ms(), 'f', 1);
        case PeakGrowth:
            if (!request->growth_measured) return sort ? QVariant(qint64(-1)) : QString("-");
            return sort ? QVariant(qint64(request->growth.heap)) : bytes_text(request->growth.heap);
        case BytesIn: return sort ? QVariant(quint64(request->request_bytes)) : bytes_text(int64_t(request->request_bytes));
        case BytesOut:
            return sort ? QVariant(quint64(request->response_bytes)) : bytes_text(int64_t(request->response_bytes));
        case Finding:
            if (sort) return finding == nullptr ? -1 : static_cast<int>(finding->confidence);
            return finding_text(finding);
    }
    return {};
}

QVariant RequestsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Start (s)", "Method", "Path", "Status", "Duration (ms)", "Peak growth",
                                         "Bytes in", "Bytes out", "Finding"};
    return section >= 0 && section < ColumnCount ? QString(kNames[section]) : QVariant();
}

}  // namespace routeheap::gui
