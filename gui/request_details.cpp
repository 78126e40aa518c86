// Request details panel.
#include "request_details.h"

#include <routeheap/analysis/report.h>

#include <QChartView>
#include <QLabel>
#include <QLineSeries>
#include <QTextBrowser>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>

namespace routeheap::gui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

QLineSeries* make_series(const QString& name, const QColor& color) {
    auto* series = new QLineSeries;
    series->setName(name);
    QPen pen(color);
    pen.setWidthF(2);
    series->setPen(pen);
    return series;
}

QString milliseconds_after(uint64_t time_ns, uint64_t start_ns) {
    if (time_ns == 0 || time_ns < start_ns) return "-";
    return QString::number(double(time_ns - start_ns) / 1e6, 'f', 1) + " ms";
}

QString bytes(int64_t value) { return QString::fromStdString(analysis::format_bytes(value)); }

QString html_escaped(const std::string& text) { return QString::fromStdString(text).toHtmlEscaped(); }

// The finding, its evidence and fix, then the allocation sites at the request's peak.
QString finding_html_of(const analysis::Request& request) {
    QString html;
    if (request.findings.empty()) html += "<p><b>No finding.</b> Memory held during this request stayed in proportion.</p>";
    for (const analysis::Finding& finding : request.findings) {
        html += "<h3>" + html_escaped(finding.kind) + " <small>(" + analysis::confidence_name(finding.confidence) +
                " confidence)</small></h3>";
        html += "<p>" + html_escaped(finding.summary) + "</p><table>";
        for (const analysis::EvidenceItem& item : finding.evidence) {
            html += "<tr><td>" + html_escaped(analysis::evidence_label(item.name)) + "</td><td align=right>" +
                    html_escaped(analysis::format_evidence_value(item)) + "</td></tr>";
        }
        html += "</table><p><b>Fix:</b> " + html_escaped(finding.fix) + "</p>";
    }
    const auto& sites = request.allocations.sites;
    if (!sites.empty()) {
        html += "<h4>Allocation sites at the peak</h4><ul>";
        for (size_t i = 0; i < std::min(analysis::kTopSites, sites.size()); ++i) {
            html += "<li><code>" + html_escaped(analysis::format_site_line(sites[i], 5)) + "</code></li>";
        }
        html += "</ul>";
    }
    return html;
}

}  // namespace

RequestDetails::RequestDetails(QWidget* parent)
    : QWidget(parent),
      summary_(new QLabel),
      chart_view_(new QChartView),
      read_(make_series("Bytes read", QColor(40, 140, 60))),
      written_(make_series("Bytes written", QColor(30, 110, 200))),
      growth_(make_series("Memory growth", QColor(220, 50, 40))),
      time_axis_(new QValueAxis),
      bytes_axis_(new QValueAxis),
      finding_(new QTextBrowser) {
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    summary_->setWordWrap(true);
    auto* chart = new QChart;
    chart->setMargins(QMargins(2, 2, 2, 2));
    chart->legend()->setAlignment(Qt::AlignTop);
    time_axis_->setTitleText("ms since the first request byte");
    time_axis_->setLabelFormat("%.0f");
    bytes_axis_->setTitleText("MiB");
    bytes_axis_->setLabelFormat("%.1f");
    chart->addAxis(time_axis_, Qt::AlignBottom);
    chart->addAxis(bytes_axis_, Qt::AlignLeft);
    for (QLineSeries* series : {read_, written_, growth_}) {
        chart->addSeries(series);
        series->attachAxis(time_axis_);
        series->attachAxis(bytes_axis_);
    }
    chart_view_->setChart(chart);
    chart_view_->setRenderHint(QPainter::Antialiasing);
    chart_view_->setMinimumHeight(180);
    finding_->setOpenExternalLinks(false);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(summary_);
    layout->addWidget(chart_view_, 3);
    layout->addWidget(finding_, 2);
    show_request(nullptr, nullptr, 0);
}

void RequestDetails::show_request(const analysis::Request* request, const analysis::SessionTimeline* timeline,
                                  uint64_t origin_ns) {
    for (QLineSeries* series : {read_, written_, growth_}) series->clear();
    if (request == nullptr) {
        summary_->setText("Select a request in the table or click one on the timeline.");
        finding_->setHtml({});
        return;
    }
    const double start_s = request->start_ns >= origin_ns ? double(request->start_ns - origin_ns) / 1e9 : 0;
    QString text = QString("<b>%1 %2</b> &nbsp; status %3 &nbsp; %4<br>")
                       .arg(html_escaped(request->method), html_escaped(analysis::printable_request_text(request->path)))
                       .arg(request->status)
                       .arg(analysis::outcome_name(request->outcome));
    text += QString("start %1 s, duration %2 ms; body read by %3, first response byte at %4<br>")
                .arg(start_s, 0, 'f', 3)
                .arg(request->duration_ms(), 0, 'f', 1)
                .arg(milliseconds_after(request->body_complete_ns, request->start_ns),
                     milliseconds_after(request->first_response_byte_ns, request->start_ns));
    text += QString("in %1, out %2 in %3 writes (largest %4)")
                .arg(bytes(int64_t(request->request_bytes)), bytes(int64_t(request->response_bytes)))
                .arg(request->write_calls)
                .arg(bytes(int64_t(request->largest_write_bytes)));
    if (request->growth_measured) {
        text += QString("; peak growth heap %1 (native %2, V8 %3, RSS %4)")
                    .arg(bytes(request->growth.heap), bytes(request->growth.native), bytes(request->growth.v8),
                         bytes(request->growth.rss));
    }
    if (request->overlapping) text += "<br><i>Overlaps another request of the same process: growth is shared.</i>";
    summary_->setText(text);
    finding_->setHtml(finding_html_of(*request));
    if (timeline != nullptr) fill_chart(*request, *timeline);
}

void RequestDetails::fill_chart(const analysis::Request& request, const analysis::SessionTimeline& timeline) {
    const uint64_t start = request.start_ns;
    const auto ms = [start](uint64_t time) { return time >= start ? double(time - start) / 1e6 : 0.0; };
    double max_mib = 0.1;
    double min_mib = 0;
    double max_ms = std::max(1.0, request.duration_ms());

    // Cumulative byte counts are steps: each value stays until the next read or write.
    const auto add_steps = [&](QLineSeries* series, const std::vector<analysis::ByteProgress>& progress) {
        QList<QPointF> points{QPointF(0, 0)};
        double previous = 0;
        for (const analysis::ByteProgress& step : progress) {
            const double mib = double(step.bytes) / kMiB;
            points.append(QPointF(ms(step.time_ns), previous));
            points.append(QPointF(ms(step.time_ns), mib));
            previous = mib;
            max_mib = std::max(max_mib, mib);
        }
        points.append(QPointF(max_ms, previous));
        series->replace(points);
    };

    if (const analysis::RequestIo* io = timeline.io(request.id)) {
        add_steps(read_, io->read);
        add_steps(written_, io->written);
    }

    QList<QPointF> growth;
    for (const auto& [time, bytes_grown] : analysis::request_growth(timeline, request)) {
        const double mib = double(bytes_grown) / kMiB;
        growth.append(QPointF(ms(time), mib));
        max_mib = std::max(max_mib, mib);
        min_mib = std::min(min_mib, mib);
    }
    growth_->replace(growth);
    time_axis_->setRange(0, max_ms);
    bytes_axis_->setRange(min_mib * 1.08, max_mib * 1.08);
}

QString RequestDetails::summary_text() const { return summary_->text(); }

QString RequestDetails::finding_html() const { return finding_->toHtml(); }

}  // namespace routeheap::gui
