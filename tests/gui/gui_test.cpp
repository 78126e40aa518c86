// Qt Test suite for routeheap-gui on a real recorded session (uploads to /buffered and
// /stream, two GET /health): the routes, requests and call tree models, range filtering,
// the error dialog for unreadable input, report JSON input and the screenshot mode.
#include "call_tree_model.h"
#include "main_window.h"
#include "request_details.h"
#include "request_models.h"
#include "timeline_view.h"

#include <routeheap/analysis/session_view.h>

#include <QFile>
#include <QImage>
#include <QMessageBox>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

using namespace routeheap;

namespace {

constexpr int kLoadTimeoutMs = 60'000;

QString required_env(const char* name) {
    const QString value = qEnvironmentVariable(name);
    if (value.isEmpty()) qFatal("%s is not set: run the GUI tests through ctest, which sets it", name);
    return value;
}

// The row of the routes model whose route is `route`, or -1.
int route_row(const gui::RoutesModel& model, const QString& route) {
    for (int row = 0; row < model.rowCount(); ++row) {
        if (model.index(row, gui::RoutesModel::Route).data().toString() == route) return row;
    }
    return -1;
}

// The index in the analysis of the first request with `path`.
size_t request_index(const analysis::SessionView& view, const std::string& path) {
    const auto& requests = view.analysis.requests;
    for (size_t i = 0; i < requests.size(); ++i) {
        if (requests[i].path == path) return i;
    }
    qFatal("no request for %s in the recorded session", path.c_str());
}

bool tree_has_label(const analysis::CallTree& tree, const std::string& part) {
    for (const auto& node : tree.nodes()) {
        if (node.label.find(part) != std::string::npos) return true;
    }
    return false;
}

}  // namespace

class GuiTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void routesModelRows();
    void requestsModelRows();
    void routeSelectionHighlights();
    void callTreeOfBufferedRequest();
    void rangeFiltersViews();
    void timelineDownsamples();
    void previewReadsFewBlocks();
    void downsampleKeepsSpikes();
    void corruptTraceShowsError();
    void invalidReportShowsError();
    void reportJsonOpens();
    void screenshotWritesPng();

private:
    void open(gui::MainWindow& window, const QString& path);

    QString session_;
    std::unique_ptr<gui::MainWindow> window_;
    QTemporaryDir temp_;
};

void GuiTest::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    session_ = required_env("ROUTEHEAP_GUI_SESSION");
    QVERIFY2(QFileInfo(session_).isDir(), qPrintable("no session folder at " + session_));
    QVERIFY(temp_.isValid());
    window_ = std::make_unique<gui::MainWindow>();
    window_->show();
    open(*window_, session_);
}

void GuiTest::open(gui::MainWindow& window, const QString& path) {
    QSignalSpy loaded(&window, &gui::MainWindow::sessionLoaded);
    QSignalSpy failed(&window, &gui::MainWindow::loadFailed);
    window.open_path(path);
    QTRY_VERIFY_WITH_TIMEOUT(!loaded.isEmpty() || !failed.isEmpty(), kLoadTimeoutMs);
    QVERIFY2(failed.isEmpty(), qPrintable(failed.isEmpty() ? QString() : failed.front().front().toString()));
}

void GuiTest::routesModelRows() {
    const gui::RoutesModel& routes = *window_->routes_model();
    QCOMPARE(routes.rowCount(), 3);

    const int buffered = route_row(routes, "/buffered");
    const int stream = route_row(routes, "/stream");
    const int health = route_row(routes, "/health");
    QVERIFY(buffered >= 0 && stream >= 0 && health >= 0);
    QCOMPARE(routes.index(buffered, gui::RoutesModel::Method).data().toString(), QString("POST"));
    QCOMPARE(routes.index(buffered, gui::RoutesModel::Requests).data().toInt(), 1);
    QCOMPARE(routes.index(health, gui::RoutesModel::Requests).data().toInt(), 2);
    QVERIFY(routes.index(buffered, gui::RoutesModel::WorstFinding).data().toString().startsWith("buffered-"));
    QCOMPARE(routes.index(stream, gui::RoutesModel::WorstFinding).data().toString(), QString());

    // Growth sorts as a number: the buffered route held more than the streamed one.
    const qint64 buffered_growth = routes.index(buffered, gui::RoutesModel::GrowthMax).data(gui::kSortRole).toLongLong();
    const qint64 stream_growth = routes.index(stream, gui::RoutesModel::GrowthMax).data(gui::kSortRole).toLongLong();
    QVERIFY2(buffered_growth > stream_growth,
             qPrintable(QString("buffered %1 <= stream %2").arg(buffered_growth).arg(stream_growth)));
    QVERIFY(routes.index(buffered, gui::RoutesModel::BytesIn).data().toString().endsWith("MiB"));
}

void GuiTest::requestsModelRows() {
    window_->reset_range();
    const gui::RequestsModel& requests = *window_->requests_model();
    QCOMPARE(requests.rowCount(), 4);
    QStringList paths;
    for (int row = 0; row < requests.rowCount(); ++row) {
        paths << requests.index(row, gui::RequestsModel::Path).data().toString();
        QCOMPARE(requests.index(row, gui::RequestsModel::Status).data().toInt(), 200);
    }
    paths.sort();
    QCOMPARE(paths, QStringList({"/buffered", "/health", "/health", "/stream"}));
    QCOMPARE(window_->timeline()->spans().size(), size_t(4));

    const size_t buffered = request_index(*window_->view(), "/buffered");
    window_->select_request(buffered);
    QVERIFY(window_->details()->summary_text().contains("POST /buffered"));
    QVERIFY(window_->details()->finding_html().contains("Fix:"));
}

void GuiTest::routeSelectionHighlights() {
    window_->reset_range();
    QTableView* table = window_->routes_table();
    for (int row = 0; row < table->model()->rowCount(); ++row) {
        if (table->model()->index(row, gui::RoutesModel::Route).data().toString() == "/health") table->selectRow(row);
    }
    const gui::RequestsModel& requests = *window_->requests_model();
    QCOMPARE(requests.rowCount(), 2);
    for (int row = 0; row < requests.rowCount(); ++row) QCOMPARE(requests.request_at(row)->route, std::string("/health"));
    table->clearSelection();
}

void GuiTest::callTreeOfBufferedRequest() {
    window_->reset_range();
    window_->select_request(request_index(*window_->view(), "/buffered"));
    window_->show_allocations_tab();
    window_->refresh_call_tree();
    const analysis::CallTree& tree = window_->call_tree_model()->tree();
    // The buffered route keeps the whole CSV and its JSON (several MiB) live at its peak.
    QVERIFY2(tree.root().peak_bytes > 1024.0 * 1024.0, qPrintable(QString::number(tree.root().peak_bytes)));
    QVERIFY(tree.root().allocated_bytes >= tree.root().peak_bytes * 0.5);
    QVERIFY(window_->call_tree_model()->rowCount() > 0);
    QVERIFY2(tree_has_label(tree, "server.js"), "no frame of the sample server in the call tree");

    // Bottom-up has the same total, rooted at the allocating frames.
    analysis::SessionView& view = *window_->view();
    const size_t buffered = request_index(view, "/buffered");
    const auto weights = analysis::selection_weights(view, {buffered}, {analysis::request_window(view.analysis.requests[buffered])});
    const auto bottom_up = analysis::CallTree::build(weights, analysis::CallTreeOrder::BottomUp);
    QCOMPARE(bottom_up.root().peak_bytes, tree.root().peak_bytes);
    QVERIFY(bottom_up.root().children.size() > 0);
    const auto& top = bottom_up.nodes()[bottom_up.root().children.front()];
    QVERIFY(top.peak_bytes <= bottom_up.root().peak_bytes);
}

void GuiTest::rangeFiltersViews() {
    const analysis::Request& stream = window_->view()->analysis.requests[request_index(*window_->view(), "/stream")];
    QVERIFY(stream.end_ns > stream.start_ns + 2);
    window_->select_range(stream.start_ns + 1, stream.end_ns - 1);
    QCOMPARE(window_->routes_model()->rowCount(), 1);
    QCOMPARE(window_->routes_model()->index(0, gui::RoutesModel::Route).data().toString(), QString("/stream"));
    QCOMPARE(window_->requests_model()->rowCount(), 1);
    QCOMPARE(window_->timeline()->range_from(), stream.start_ns + 1);
    window_->reset_range();
    QCOMPARE(window_->routes_model()->rowCount(), 3);
}

void GuiTest::timelineDownsamples() {
    const gui::TimelineView& timeline = *window_->timeline();
    const int points = timeline.drawn_points(analysis::MemorySeries::NativeHeap);
    QVERIFY(points > 0);
    // At most two points (minimum and maximum) per pixel column of the plot.
    QVERIFY2(points <= 2 * timeline.width(), qPrintable(QString("%1 points, %2 px").arg(points).arg(timeline.width())));
}

void GuiTest::previewReadsFewBlocks() {
    const analysis::Session session = analysis::open_session(session_.toStdString());
    analysis::TraceReader reader(session.traces.front());
    const analysis::BlockIndex index = reader.index_blocks();
    QVERIFY2(index.stopped.empty(), index.stopped.c_str());
    QCOMPARE(index.indexed_bytes, index.file_bytes);
    QVERIFY(index.blocks.size() >= 2);

    const analysis::SessionTimeline preview = analysis::load_timeline_preview(session, 2);
    QVERIFY(preview.preview);
    QCOMPARE(preview.processes.size(), size_t(1));
    QCOMPARE(preview.processes.front().blocks, uint64_t(index.blocks.size()));
    QCOMPARE(preview.processes.front().blocks_read, uint64_t(2));
    QVERIFY(!preview.processes.front().points.empty());
    QVERIFY(preview.processes.front().points.size() <= window_->view()->timeline.processes.front().points.size());
}

void GuiTest::downsampleKeepsSpikes() {
    std::vector<analysis::MemoryPoint> points;
    for (uint64_t i = 0; i < 1000; ++i) {
        analysis::MemoryPoint point;
        point.time_ns = i * 1000;
        point.native_live_bytes = 100;
        point.native_live_peak_bytes = i == 500 ? 9999 : 100;
        points.push_back(point);
    }
    const auto columns = analysis::downsample_min_max(points, analysis::MemorySeries::NativeHeap, 0, 1'000'000, 10);
    QCOMPARE(columns.size(), size_t(10));
    QCOMPARE(columns[5].max, int64_t(9999));
    QCOMPARE(columns[5].max_time_ns, uint64_t(500'000));
    QCOMPARE(columns[4].max, int64_t(100));
    // RSS was never read (-1), so it has no columns at all.
    QVERIFY(analysis::downsample_min_max(points, analysis::MemorySeries::Rss, 0, 1'000'000, 10).empty());
}

void GuiTest::corruptTraceShowsError() {
    const QString path = temp_.filePath("corrupt.rhtrace");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(QByteArray(4096, 'x'));
    file.close();

    gui::MainWindow window;
    QSignalSpy failed(&window, &gui::MainWindow::loadFailed);
    window.open_path(path);
    QTRY_VERIFY_WITH_TIMEOUT(!failed.isEmpty(), kLoadTimeoutMs);
    QVERIFY(window.error_dialog() != nullptr);
    QVERIFY(window.error_dialog()->isVisible());
    QCOMPARE(window.error_dialog()->text(), "Cannot open " + path);
    QVERIFY2(window.error_dialog()->informativeText().contains("not a routeheap trace"),
             qPrintable(window.error_dialog()->informativeText()));
    QVERIFY(window.view() == nullptr);
}

void GuiTest::invalidReportShowsError() {
    const QString path = temp_.filePath("broken-report.json");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"schema\": \"routeheap.report/1\", \"routes\": [");
    file.close();

    gui::MainWindow window;
    QSignalSpy failed(&window, &gui::MainWindow::loadFailed);
    window.open_path(path);
    QTRY_VERIFY_WITH_TIMEOUT(!failed.isEmpty(), kLoadTimeoutMs);
    QVERIFY2(window.error_dialog()->informativeText().contains("not valid JSON"),
             qPrintable(window.error_dialog()->informativeText()));
}

void GuiTest::reportJsonOpens() {
    QProcess report;
    report.start(required_env("ROUTEHEAP_BIN"), {"report", session_, "--format", "json"});
    QVERIFY(report.waitForFinished(kLoadTimeoutMs));
    QCOMPARE(report.exitCode(), 0);
    const QString path = temp_.filePath("report.json");
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(report.readAllStandardOutput());
    file.close();

    gui::MainWindow window;
    open(window, path);
    QVERIFY(window.view()->from_report);
    QCOMPARE(window.routes_model()->rowCount(), 3);
    QCOMPARE(window.requests_model()->rowCount(), 4);
    const int buffered = route_row(*window.routes_model(), "/buffered");
    QVERIFY(window.routes_model()->index(buffered, gui::RoutesModel::WorstFinding).data().toString().startsWith("buffered-"));
    QCOMPARE(window.timeline()->spans().size(), size_t(4));
}

void GuiTest::screenshotWritesPng() {
    const QString png = temp_.filePath("window.png");
    QProcess gui;
    gui.start(required_env("ROUTEHEAP_GUI_BIN"), {"--screenshot", png, session_});
    QVERIFY(gui.waitForFinished(kLoadTimeoutMs));
    QVERIFY2(gui.exitCode() == 0, gui.readAllStandardError().constData());
    QVERIFY(QFileInfo(png).size() > 10'000);
    const QImage image(png);
    QCOMPARE(image.size(), QSize(1400, 900));

    // A missing session makes the screenshot mode fail with the reason, not an image.
    const QString missing = temp_.filePath("missing.png");
    gui.start(required_env("ROUTEHEAP_GUI_BIN"), {"--screenshot", missing, temp_.filePath("no-such-session")});
    QVERIFY(gui.waitForFinished(kLoadTimeoutMs));
    QCOMPARE(gui.exitCode(), 1);
    QVERIFY(gui.readAllStandardError().contains("no such file or folder"));
    QVERIFY(!QFileInfo::exists(missing));
}

QTEST_MAIN(GuiTest)
#include "gui_test.moc"
