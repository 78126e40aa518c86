// routeheap-gui: opens a session folder, trace or report JSON in the main window, or
// renders the window to a PNG with --screenshot, or times the first timeline paint.
#include "main_window.h"
#include "request_models.h"
#include "timeline_view.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QTableView>
#include <QTimer>

#include <cstdio>
#include <cstring>

namespace {

// --screenshot needs no display: choose Qt's offscreen platform unless the caller chose one.
void prefer_offscreen_for_screenshots(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--screenshot") == 0 || std::strncmp(argv[i], "--screenshot=", 13) == 0 ||
            std::strcmp(argv[i], "--time-first-paint") == 0) {
            if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
            return;
        }
    }
}

// Selects the route with the largest peak growth and its worst request, so a
// screenshot shows the request details and the timeline highlight.
void select_worst(routeheap::gui::MainWindow& window) {
    window.routes_table()->selectRow(0);
    window.requests_table()->sortByColumn(routeheap::gui::RequestsModel::PeakGrowth, Qt::DescendingOrder);
    window.requests_table()->selectRow(0);
}

}  // namespace

int main(int argc, char** argv) {
    QElapsedTimer since_start;
    since_start.start();
    prefer_offscreen_for_screenshots(argc, argv);
    QApplication app(argc, argv);
    QApplication::setOrganizationName("routeheap");
    QApplication::setApplicationName("routeheap-gui");
    QApplication::setApplicationVersion(ROUTEHEAP_VERSION);

    QCommandLineParser parser;
    parser.setApplicationDescription("Desktop viewer for routeheap sessions: memory timeline, routes, requests, "
                                     "findings and allocation call trees.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("SESSION", "a session folder, a .rhtrace file or a report JSON", "[SESSION]");
    const QCommandLineOption screenshot("screenshot",
                                        "load SESSION, render the main window offscreen to FILE (PNG) and exit",
                                        "FILE");
    const QCommandLineOption size("size", "window size for --screenshot in pixels (default 1400x900)", "WxH",
                                  "1400x900");
    const QCommandLineOption time_first_paint(
        "time-first-paint",
        "print the milliseconds from opening SESSION to the first painted timeline on stdout and exit");
    const QCommandLineOption tab("tab", "panel shown beside the tables for --screenshot: details or allocations "
                                        "(default details)", "PANEL", "details");
    parser.addOptions({screenshot, size, tab, time_first_paint});
    parser.process(app);

    const QStringList arguments = parser.positionalArguments();
    const bool headless = parser.isSet(screenshot) || parser.isSet(time_first_paint);
    if (arguments.size() > 1) {
        std::fprintf(stderr, "routeheap-gui: %lld sessions given: open one session folder, trace or report JSON\n",
                     static_cast<long long>(arguments.size()));
        return 2;
    }
    if (headless && arguments.isEmpty()) {
        std::fprintf(stderr, "routeheap-gui: --screenshot and --time-first-paint need a SESSION (a session folder, "
                             "trace or report JSON)\n");
        return 2;
    }
    const QStringList dimensions = parser.value(size).split('x');
    bool width_ok = false;
    bool height_ok = false;
    const int width = dimensions.size() == 2 ? dimensions[0].toInt(&width_ok) : 0;
    const int height = dimensions.size() == 2 ? dimensions[1].toInt(&height_ok) : 0;
    if (!width_ok || !height_ok || width < 400 || height < 300 || width > 8000 || height > 8000) {
        std::fprintf(stderr, "routeheap-gui: invalid --size \"%s\": use WIDTHxHEIGHT in pixels, from 400x300 to 8000x8000\n",
                     qPrintable(parser.value(size)));
        return 2;
    }

    const QString panel = parser.value(tab);
    if (panel != "details" && panel != "allocations") {
        std::fprintf(stderr, "routeheap-gui: invalid --tab \"%s\": use details or allocations\n", qPrintable(panel));
        return 2;
    }

    routeheap::gui::MainWindow window;
    window.resize(width, height);
    int exit_code = 0;
    QObject::connect(&window, &routeheap::gui::MainWindow::loadFailed, &app, [&](const QString& message) {
        if (!headless) return;
        std::fprintf(stderr, "routeheap-gui: %s\n", qPrintable(message));
        exit_code = 1;
        app.quit();
    });
    if (parser.isSet(time_first_paint)) {
        QObject::connect(&window, &routeheap::gui::MainWindow::timelinePainted, &app, [&](qint64 milliseconds) {
            std::printf("first timeline paint after %lld ms (%lld ms since the process started)\n",
                        static_cast<long long>(milliseconds), static_cast<long long>(since_start.elapsed()));
            std::fflush(stdout);
            app.quit();
        });
    }
    if (parser.isSet(screenshot)) {
        const QString file = parser.value(screenshot);
        QObject::connect(&window, &routeheap::gui::MainWindow::sessionLoaded, &app, [&, file] {
            select_worst(window);
            if (panel == "allocations") window.show_allocations_tab();
            // Let the layout and the charts settle before grabbing.
            QTimer::singleShot(200, &app, [&, file] {
                if (!window.grab().save(file, "PNG")) {
                    std::fprintf(stderr, "routeheap-gui: cannot write %s: check the folder exists and is writable\n",
                                 qPrintable(file));
                    exit_code = 1;
                }
                app.quit();
            });
        });
    }

    window.show();
    if (!arguments.isEmpty()) window.open_path(arguments.front());
    const int status = app.exec();
    return exit_code != 0 ? exit_code : status;
}
