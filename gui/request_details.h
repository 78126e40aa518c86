// The selected request's details panel. It shows method, path, status and timings, a
// chart of body bytes read, body bytes written and memory growth over the request, and
// the findings with their evidence, fix and allocation sites.
#pragma once

#include <routeheap/analysis/session_view.h>

#include <QWidget>

class QChartView;
class QLabel;
class QLineSeries;
class QTextBrowser;
class QValueAxis;

namespace routeheap::gui {

class RequestDetails : public QWidget {
    Q_OBJECT
public:
    explicit RequestDetails(QWidget* parent = nullptr);

    // Shows `request` (nullptr clears the view). `timeline` supplies its body progress
    // and memory points; `origin_ns` is the time shown as 0 s.
    void show_request(const analysis::Request* request, const analysis::SessionTimeline* timeline, uint64_t origin_ns);

    QString summary_text() const;  // the header lines, for tests
    QString finding_html() const;

private:
    void fill_chart(const analysis::Request& request, const analysis::SessionTimeline& timeline);

    QLabel* summary_;
    QChartView* chart_view_;
    QLineSeries* read_;
    QLineSeries* written_;
    QLineSeries* growth_;
    QValueAxis* time_axis_;
    QValueAxis* bytes_axis_;
    QTextBrowser* finding_;
};

}  // namespace routeheap::gui
