// Main window: layout, menus, loading stages and the selection logic that ties the
// timeline, tables, details and call tree together.
#include "main_window.h"

#include "call_tree_model.h"
#include "request_details.h"
#include "request_models.h"
#include "timeline_view.h"

#include <routeheap/analysis/report.h>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

namespace routeheap::gui {

namespace {

constexpr int kMaxRecentFiles = 8;
constexpr const char* kRecentKey = "recent_files";

QTableView* make_table(QAbstractItemModel* model) {
    auto* table = new QTableView;
    table->setModel(model);
    table->setSortingEnabled(true);
    table->setSelectionBehavior(QAbstractItemView::SelectRows);
    table->setSelectionMode(QAbstractItemView::SingleSelection);
    table->verticalHeader()->hide();
    table->horizontalHeader()->setStretchLastSection(true);
    table->setAlternatingRowColors(true);
    return table;
}

QSortFilterProxyModel* make_proxy(QAbstractItemModel* source, QObject* parent) {
    auto* proxy = new QSortFilterProxyModel(parent);
    proxy->setSourceModel(source);
    proxy->setSortRole(kSortRole);
    return proxy;
}

QString span_tooltip(const analysis::Request& request, uint64_t origin_ns) {
    QString text = QString("%1 %2  %3\n").arg(QString::fromStdString(request.method),
                                              QString::fromStdString(analysis::printable_request_text(request.path)))
                       .arg(request.status);
    text += QString("start %1 s, %2 ms")
                .arg(double(request.start_ns - std::min(request.start_ns, origin_ns)) / 1e9, 0, 'f', 3)
                .arg(request.duration_ms(), 0, 'f', 1);
    if (request.growth_measured) {
        text += ", peak +" + QString::fromStdString(analysis::format_bytes(request.growth.heap));
    }
    if (const analysis::Finding* finding = analysis::worst_finding(request)) text += "\n" + finding_text(finding);
    return text;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      loader_(new SessionLoader(this)),
      timeline_(new TimelineView),
      range_label_(new QLabel),
      reset_range_button_(new QPushButton("Show whole session")),
      routes_model_(new RoutesModel(this)),
      routes_proxy_(make_proxy(routes_model_, this)),
      routes_table_(make_table(routes_proxy_)),
      requests_model_(new RequestsModel(this)),
      requests_proxy_(make_proxy(requests_model_, this)),
      requests_table_(make_table(requests_proxy_)),
      left_tabs_(new QTabWidget),
      right_tabs_(new QTabWidget),
      details_(new RequestDetails),
      call_tree_model_(new CallTreeModel(this)),
      call_tree_(new QTreeView),
      call_tree_order_(new QComboBox),
      call_tree_label_(new QLabel),
      progress_(new QProgressBar),
      status_(new QLabel) {
    setWindowTitle("routeheap");
    setAcceptDrops(true);
    build_menus();

    auto* top = new QWidget;
    auto* top_layout = new QVBoxLayout(top);
    top_layout->setContentsMargins(0, 0, 0, 0);
    auto* range_row = new QHBoxLayout;
    range_row->addWidget(range_label_, 1);
    range_row->addWidget(reset_range_button_);
    top_layout->addLayout(range_row);
    top_layout->addWidget(timeline_, 1);

    auto* splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(top);
    splitter->addWidget(build_tables());
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    setCentralWidget(splitter);

    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(240);
    progress_->hide();
    statusBar()->addWidget(status_, 1);
    statusBar()->addPermanentWidget(progress_);
    range_label_->setText("Drag across the timeline to limit every view to a time range.");
    reset_range_button_->setEnabled(false);
    status_->setText("Open a session folder, a trace or a report JSON (File > Open, or drop it here).");

    connect(loader_, &SessionLoader::previewReady, this, &MainWindow::on_preview);
    connect(loader_, &SessionLoader::loaded, this, &MainWindow::on_loaded);
    connect(loader_, &SessionLoader::failed, this, &MainWindow::on_failed);
    connect(loader_, &SessionLoader::progress, this, &MainWindow::on_progress);
    connect(timeline_, &TimelineView::rangeSelected, this, [this](quint64 from, quint64 to) { select_range(from, to); });
    connect(timeline_, &TimelineView::requestClicked, this, [this](int request) { select_request(size_t(request)); });
    connect(timeline_, &TimelineView::firstPaint, this, [this] {
        if (paint_timed_ || !open_timer_.isValid()) return;
        paint_timed_ = true;
        emit timelinePainted(open_timer_.elapsed());
    });
    connect(reset_range_button_, &QPushButton::clicked, this, &MainWindow::reset_range);
    connect(routes_table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MainWindow::on_route_selected);
    connect(requests_table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::on_request_selected);
    connect(right_tabs_, &QTabWidget::currentChanged, this, [this] {
        if (right_tabs_->currentIndex() == 1 && call_tree_stale_) refresh_call_tree();
    });
    connect(call_tree_order_, &QComboBox::currentIndexChanged, this, [this] {
        mark_call_tree_stale();
    });
    resize(1400, 900);
}

MainWindow::~MainWindow() { loader_->cancel(); }

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu("&File");
    QAction* open_folder = file->addAction("Open &Session Folder...", this, &MainWindow::choose_folder);
    open_folder->setShortcut(QKeySequence::Open);
    file->addAction("Open &File (trace or report JSON)...", this, &MainWindow::choose_file);
    recent_menu_ = file->addMenu("Open &Recent");
    file->addSeparator();
    QAction* quit = file->addAction("&Quit", this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    rebuild_recent_menu();
}

QWidget* MainWindow::build_tables() {
    left_tabs_->addTab(routes_table_, "Routes");
    left_tabs_->addTab(requests_table_, "Requests");

    auto* allocations = new QWidget;
    auto* layout = new QVBoxLayout(allocations);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* row = new QHBoxLayout;
    call_tree_order_->addItem("Top-down (callers first)");
    call_tree_order_->addItem("Bottom-up (allocating frames first)");
    row->addWidget(call_tree_label_, 1);
    row->addWidget(call_tree_order_);
    layout->addLayout(row);
    auto* proxy = make_proxy(call_tree_model_, this);
    call_tree_->setModel(proxy);
    call_tree_->setSortingEnabled(true);
    call_tree_->sortByColumn(CallTreeModel::PeakBytes, Qt::DescendingOrder);
    call_tree_->setUniformRowHeights(true);
    call_tree_->header()->setSectionResizeMode(CallTreeModel::FrameLabel, QHeaderView::Stretch);
    call_tree_->header()->setStretchLastSection(false);
    layout->addWidget(call_tree_);

    right_tabs_->addTab(details_, "Request details");
    right_tabs_->addTab(allocations, "Allocations");

    auto* splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(left_tabs_);
    splitter->addWidget(right_tabs_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    return splitter;
}

void MainWindow::open_path(const QString& path) {
    open_timer_.start();
    paint_timed_ = false;
    status_->setText("Opening " + path + " ...");
    progress_->setValue(0);
    progress_->show();
    loader_->load(path);
}

// Times are shown relative to the analysis origin, the earliest trace's start. A
// report's times are already relative to it.
uint64_t MainWindow::origin() const {
    return view_ && !view_->from_report ? view_->analysis.origin_ns : 0;
}

void MainWindow::on_preview(std::shared_ptr<const analysis::SessionTimeline> preview) {
    // The models point into the previous session: empty them before it goes.
    routes_model_->set_routes({});
    requests_model_->set_requests(nullptr, {}, 0);
    details_->show_request(nullptr, nullptr, 0);
    call_tree_model_->set_tree(analysis::CallTree::build({}, analysis::CallTreeOrder::TopDown));
    timeline_->set_highlighted({});
    view_.reset();
    range_.reset();

    std::vector<SpanItem> spans;
    for (const analysis::ProcessTimeline& process : preview->processes) {
        for (const analysis::RequestSpan& span : process.spans) {
            spans.push_back(SpanItem{span.start_ns, span.end_ns, QColor(150, 150, 150), -1,
                                     QString::fromStdString(span.method + " " + span.path)});
        }
    }
    std::sort(spans.begin(), spans.end(), [](const SpanItem& a, const SpanItem& b) { return a.start_ns < b.start_ns; });
    timeline_->set_timeline(preview, preview->first_ns);
    timeline_->set_spans(std::move(spans));
    uint64_t blocks = 0;
    uint64_t read = 0;
    for (const auto& process : preview->processes) {
        blocks += process.blocks;
        read += process.blocks_read;
    }
    status_->setText(QString("Preview from %1 of %2 blocks; reading the whole session...").arg(read).arg(blocks));
}

void MainWindow::on_progress(const QString& stage, double fraction) {
    progress_->setValue(int(fraction * 1000));
    progress_->setFormat(stage + " %p%");
    progress_->setTextVisible(true);
}

void MainWindow::on_loaded(std::shared_ptr<analysis::SessionView> view) {
    view_ = std::move(view);
    range_.reset();
    progress_->hide();
    const QString path = QString::fromStdString(view_->path.string());
    setWindowTitle("routeheap - " + QFileInfo(path).fileName());
    remember_recent(path);

    auto timeline = std::shared_ptr<const analysis::SessionTimeline>(view_, &view_->timeline);
    timeline_->set_timeline(timeline, origin());
    update_spans();
    reset_range();

    const auto& analysis = view_->analysis;
    QString status = QString("%1: %2 in %3 routes, %4")
                         .arg(QFileInfo(path).fileName(),
                              QString::fromStdString(analysis::count_of(analysis.requests.size(), "request", "requests")))
                         .arg(analysis.routes.size())
                         .arg(QString::fromStdString(
                             analysis::count_of(analysis.processes.size(), "process", "processes")));
    if (!analysis.warnings.empty()) {
        status += QString(", %1 (first: %2)")
                      .arg(QString::fromStdString(analysis::count_of(analysis.warnings.size(), "warning", "warnings")),
                           QString::fromStdString(analysis.warnings.front()));
    }
    if (view_->from_report) status += "; a report has no memory timeline or call trees, open its session for those";
    status_->setText(status);
    routes_table_->sortByColumn(RoutesModel::GrowthMax, Qt::DescendingOrder);
    routes_table_->resizeColumnsToContents();
    requests_table_->resizeColumnsToContents();
    emit sessionLoaded();
}

void MainWindow::on_failed(const QString& path, const QString& message) {
    progress_->hide();
    status_->setText("Cannot open " + path);
    if (error_dialog_ == nullptr) {
        error_dialog_ = new QMessageBox(QMessageBox::Critical, "routeheap", QString(), QMessageBox::Ok, this);
    }
    error_dialog_->setText("Cannot open " + path);
    error_dialog_->setInformativeText(message);
    error_dialog_->open();
    emit loadFailed(message);
}

void MainWindow::update_spans() {
    std::vector<SpanItem> spans;
    if (view_) {
        const auto& requests = view_->analysis.requests;
        for (size_t i = 0; i < requests.size(); ++i) {
            const analysis::Request& request = requests[i];
            spans.push_back(SpanItem{request.start_ns, request.end_ns,
                                     finding_color(analysis::worst_finding(request)), int(i),
                                     span_tooltip(request, origin())});
        }
    }
    timeline_->set_spans(std::move(spans));
}

void MainWindow::select_range(uint64_t from_ns, uint64_t to_ns) {
    if (!view_) return;
    range_ = {from_ns, to_ns};
    if (timeline_->range_from() != from_ns || timeline_->range_to() != to_ns) timeline_->set_range(from_ns, to_ns);
    const double from_s = (double(from_ns) - double(origin())) / 1e9;
    const double to_s = (double(to_ns) - double(origin())) / 1e9;
    range_label_->setText(QString("Showing %1 s to %2 s: tables and call tree are limited to this range.")
                              .arg(from_s, 0, 'f', 3)
                              .arg(to_s, 0, 'f', 3));
    reset_range_button_->setEnabled(true);
    routes_model_->set_routes(analysis::routes_in_range(view_->analysis, from_ns, to_ns));
    show_requests(std::nullopt);
    mark_call_tree_stale();
}

void MainWindow::reset_range() {
    range_.reset();
    timeline_->reset_range();
    range_label_->setText("Drag across the timeline to limit every view to a time range.");
    reset_range_button_->setEnabled(false);
    routes_model_->set_routes(view_ ? view_->analysis.routes : std::vector<analysis::RouteSummary>{});
    show_requests(std::nullopt);
    mark_call_tree_stale();
}

// Fills the requests table with the requests in the range, of `route` when given.
void MainWindow::show_requests(std::optional<size_t> route) {
    if (!view_) {
        requests_model_->set_requests(nullptr, {}, 0);
        return;
    }
    const auto& analysis = view_->analysis;
    std::vector<size_t> indices;
    if (range_) {
        indices = analysis::requests_in_range(analysis, range_->first, range_->second);
    } else {
        for (size_t i = 0; i < analysis.requests.size(); ++i) indices.push_back(i);
    }
    std::set<int> highlighted;
    if (route) {
        const analysis::RouteSummary& summary = routes_model_->routes()[*route];
        std::erase_if(indices, [&](size_t i) { return !analysis::in_route(analysis.requests[i], summary); });
        highlighted.insert(indices.begin(), indices.end());
    }
    requests_model_->set_requests(&analysis, std::move(indices), origin());
    timeline_->set_highlighted(std::move(highlighted));
    details_->show_request(nullptr, nullptr, 0);
}

void MainWindow::on_route_selected() {
    const QModelIndexList rows = routes_table_->selectionModel()->selectedRows();
    std::optional<size_t> route;
    if (!rows.isEmpty()) route = size_t(rows.front().data(kItemIndexRole).toInt());
    show_requests(route);
    if (route) left_tabs_->setTabText(1, "Requests of " + QString::fromStdString(routes_model_->routes()[*route].route));
    else left_tabs_->setTabText(1, "Requests");
    mark_call_tree_stale();
}

void MainWindow::on_request_selected() {
    const QModelIndexList rows = requests_table_->selectionModel()->selectedRows();
    if (rows.isEmpty() || !view_) return;
    const size_t index = size_t(rows.front().data(kItemIndexRole).toULongLong());
    const analysis::Request& request = view_->analysis.requests[index];
    details_->show_request(&request, &view_->timeline, origin());
    timeline_->set_highlighted({int(index)});
    if (right_tabs_->currentIndex() != 1) right_tabs_->setCurrentIndex(0);
    mark_call_tree_stale();
}

void MainWindow::select_request(size_t request) {
    if (!view_ || request >= view_->analysis.requests.size()) return;
    // The request may be hidden by a route filter: show every request of the range first.
    routes_table_->clearSelection();
    left_tabs_->setCurrentIndex(1);
    for (int row = 0; row < requests_proxy_->rowCount(); ++row) {
        const QModelIndex index = requests_proxy_->index(row, 0);
        if (size_t(index.data(kItemIndexRole).toULongLong()) == request) {
            requests_table_->selectRow(row);
            requests_table_->scrollTo(index);
            return;
        }
    }
}

void MainWindow::mark_call_tree_stale() {
    call_tree_stale_ = true;
    if (right_tabs_->currentIndex() == 1) refresh_call_tree();
}

void MainWindow::show_allocations_tab() { right_tabs_->setCurrentIndex(1); }

void MainWindow::refresh_call_tree() {
    call_tree_stale_ = false;
    const auto order = call_tree_order_->currentIndex() == 0 ? analysis::CallTreeOrder::TopDown
                                                              : analysis::CallTreeOrder::BottomUp;
    if (!view_ || !view_->allocations || !view_->allocations->recorded()) {
        call_tree_model_->set_tree(analysis::CallTree::build({}, order));
        call_tree_label_->setText(view_ && view_->from_report
                                      ? "A report holds no allocation stacks: open its session folder."
                                      : "No allocation stacks were recorded in this session.");
        return;
    }
    const auto& analysis = view_->analysis;
    std::vector<analysis::ProcessWindow> windows;
    std::vector<size_t> selected;  // requests whose peaks count
    QString label;

    // The most specific selection wins: a request, else a route, else the range.
    const QModelIndexList requests = requests_table_->selectionModel()->selectedRows();
    const QModelIndexList routes = routes_table_->selectionModel()->selectedRows();
    if (!requests.isEmpty()) {
        selected.push_back(size_t(requests.front().data(kItemIndexRole).toULongLong()));
        const analysis::Request& request = analysis.requests[selected.front()];
        windows.push_back(analysis::request_window(request));
        label = QString("Request %1 %2 (%3)")
                    .arg(QString::fromStdString(request.method),
                         QString::fromStdString(analysis::printable_request_text(request.path)),
                         QString::fromStdString(request.id.to_string()));
    } else if (!routes.isEmpty()) {
        const analysis::RouteSummary& route = routes_model_->routes()[size_t(routes.front().data(kItemIndexRole).toInt())];
        for (int row = 0; row < requests_model_->rowCount(); ++row) {
            selected.push_back(size_t(requests_model_->index(row, 0).data(kItemIndexRole).toULongLong()));
            windows.push_back(analysis::request_window(*requests_model_->request_at(row)));
        }
        label = QString("Route %1 %2: peaks of its %3 summed")
                    .arg(QString::fromStdString(route.method), QString::fromStdString(route.route))
                    .arg(QString::fromStdString(analysis::count_of(windows.size(), "request", "requests")));
    } else {
        const uint64_t from = range_ ? range_->first : 0;
        const uint64_t to = range_ ? range_->second : std::numeric_limits<uint64_t>::max();
        windows = analysis::range_windows(analysis, from, to);
        selected = analysis::requests_in_range(analysis, from, to);
        label = range_ ? QString("Selected time range, peaks of its %1 summed")
                       : QString("Whole session, peaks of its %1 summed");
        label = label.arg(QString::fromStdString(analysis::count_of(selected.size(), "request", "requests")));
    }

    analysis::CallTree tree = analysis::CallTree::build(analysis::selection_weights(*view_, selected, windows), order);
    label += QString(": peak %1, allocated %2")
                 .arg(QString::fromStdString(analysis::format_bytes(std::llround(tree.root().peak_bytes))),
                      QString::fromStdString(analysis::format_bytes(std::llround(tree.root().allocated_bytes))));
    call_tree_label_->setText(label);
    call_tree_model_->set_tree(std::move(tree));
    call_tree_->expandToDepth(1);
}

void MainWindow::choose_folder() {
    const QString folder = QFileDialog::getExistingDirectory(this, "Open session folder");
    if (!folder.isEmpty()) open_path(folder);
}

void MainWindow::choose_file() {
    const QString file = QFileDialog::getOpenFileName(this, "Open trace or report", QString(),
                                                      "routeheap traces and reports (*.rhtrace *.json);;All files (*)");
    if (!file.isEmpty()) open_path(file);
}

void MainWindow::remember_recent(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value(kRecentKey).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecentFiles) recent.removeLast();
    settings.setValue(kRecentKey, recent);
    rebuild_recent_menu();
}

void MainWindow::rebuild_recent_menu() {
    recent_menu_->clear();
    const QStringList recent = QSettings().value(kRecentKey).toStringList();
    for (const QString& path : recent) {
        recent_menu_->addAction(path, this, [this, path] { open_path(path); });
    }
    recent_menu_->setEnabled(!recent.isEmpty());
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.front().isLocalFile()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QList<QUrl> urls = event->mimeData()->urls();
    if (urls.isEmpty() || !urls.front().isLocalFile()) return;
    event->acceptProposedAction();
    open_path(urls.front().toLocalFile());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    loader_->cancel();
    QMainWindow::closeEvent(event);
}

}  // namespace routeheap::gui
