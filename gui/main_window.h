// The main window: timeline on top; routes and requests tables, request details and the
// allocation call tree below. A time range dragged on the timeline filters the tables
// and the call tree; a selected route or request highlights its spans.
#pragma once

#include "session_loader.h"

#include <routeheap/analysis/session_view.h>

#include <QElapsedTimer>
#include <QMainWindow>

#include <memory>
#include <optional>
#include <utility>

class QComboBox;
class QLabel;
class QMenu;
class QMessageBox;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QTabWidget;
class QTableView;
class QTreeView;

namespace routeheap::gui {

class CallTreeModel;
class RequestDetails;
class RequestsModel;
class RoutesModel;
class TimelineView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Starts loading a session folder, a trace or a report JSON on the worker thread.
    void open_path(const QString& path);

    // For tests and the screenshot mode.
    analysis::SessionView* view() const { return view_.get(); }
    TimelineView* timeline() const { return timeline_; }
    RoutesModel* routes_model() const { return routes_model_; }
    RequestsModel* requests_model() const { return requests_model_; }
    CallTreeModel* call_tree_model() const { return call_tree_model_; }
    RequestDetails* details() const { return details_; }
    QTableView* routes_table() const { return routes_table_; }
    QTableView* requests_table() const { return requests_table_; }
    QMessageBox* error_dialog() const { return error_dialog_; }
    // Builds the call tree now for the current selection (it is otherwise built when the
    // Allocations tab is shown).
    void refresh_call_tree();
    void show_allocations_tab();
    // Limits every view to [from_ns, to_ns]; reset_range shows the whole session again.
    void select_range(uint64_t from_ns, uint64_t to_ns);
    void reset_range();
    void select_request(size_t request);

signals:
    void sessionLoaded();
    void loadFailed(const QString& message);
    // The first paint with memory lines after open_path, with the milliseconds since it.
    void timelinePainted(qint64 milliseconds);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void closeEvent(QCloseEvent* event) override;

private:
    void build_menus();
    QWidget* build_tables();
    void on_preview(std::shared_ptr<const analysis::SessionTimeline> preview);
    void on_loaded(std::shared_ptr<analysis::SessionView> view);
    void on_failed(const QString& path, const QString& message);
    void on_progress(const QString& stage, double fraction);
    void on_route_selected();
    void on_request_selected();
    void show_requests(std::optional<size_t> route);
    void update_spans();
    void mark_call_tree_stale();
    void remember_recent(const QString& path);
    void rebuild_recent_menu();
    void choose_folder();
    void choose_file();
    uint64_t origin() const;

    SessionLoader* loader_;
    std::shared_ptr<analysis::SessionView> view_;
    std::optional<std::pair<uint64_t, uint64_t>> range_;
    QElapsedTimer open_timer_;
    bool paint_timed_ = false;
    bool call_tree_stale_ = true;

    TimelineView* timeline_;
    QLabel* range_label_;
    QPushButton* reset_range_button_;
    RoutesModel* routes_model_;
    QSortFilterProxyModel* routes_proxy_;
    QTableView* routes_table_;
    RequestsModel* requests_model_;
    QSortFilterProxyModel* requests_proxy_;
    QTableView* requests_table_;
    QTabWidget* left_tabs_;
    QTabWidget* right_tabs_;
    RequestDetails* details_;
    CallTreeModel* call_tree_model_;
    QTreeView* call_tree_;
    QComboBox* call_tree_order_;
    QLabel* call_tree_label_;
    QProgressBar* progress_;
    QLabel* status_;
    QMenu* recent_menu_;
    QMessageBox* error_dialog_ = nullptr;
};

}  // namespace routeheap::gui
