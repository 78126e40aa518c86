// Timeline chart: downsampling on every range or size change, spans painted over the
// plot, hover tooltips and rubber-band zoom.
#include "timeline_view.h"

#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
#include <QRubberBand>
#include <QToolTip>
#include <QValueAxis>

#include <algorithm>

namespace routeheap::gui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// A drag narrower than this many pixels is a click.
constexpr int kMinimumDragPixels = 4;
// Spans before the cursor's time checked for overlap when looking up the hovered one.
constexpr size_t kHoverLookback = 256;

QLineSeries* make_series(const QString& name, const QColor& color) {
    auto* series = new QLineSeries;
    series->setName(name);
    QPen pen(color);
    pen.setWidthF(1.5);
    series->setPen(pen);
    return series;
}

}  // namespace

TimelineView::TimelineView(QWidget* parent)
    : QChartView(parent),
      native_(make_series("Native heap", QColor(30, 110, 200))),
      v8_(make_series("V8 committed", QColor(150, 60, 180))),
      rss_(make_series("RSS", QColor(60, 60, 60))),
      time_axis_(new QValueAxis),
      bytes_axis_(new QValueAxis),
      rubber_band_(new QRubberBand(QRubberBand::Rectangle, this)) {
    auto* chart = new QChart;
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->legend()->setAlignment(Qt::AlignTop);
    for (QLineSeries* series : {native_, v8_, rss_}) chart->addSeries(series);
    time_axis_->setTitleText("time (s)");
    time_axis_->setLabelFormat("%.2f");
    bytes_axis_->setTitleText("MiB");
    bytes_axis_->setLabelFormat("%.0f");
    chart->addAxis(time_axis_, Qt::AlignBottom);
    chart->addAxis(bytes_axis_, Qt::AlignLeft);
    for (QLineSeries* series : {native_, v8_, rss_}) {
        series->attachAxis(time_axis_);
        series->attachAxis(bytes_axis_);
    }
    setChart(chart);
    setRenderHint(QPainter::Antialiasing);
    setMouseTracking(true);
    setMinimumHeight(220);
}

void TimelineView::set_timeline(std::shared_ptr<const analysis::SessionTimeline> timeline, uint64_t origin_ns) {
    timeline_ = std::move(timeline);
    origin_ns_ = origin_ns;
    process_ = timeline_ ? timeline_->main_process() : 0;
    first_paint_pending_ = true;
    reset_range();
}

void TimelineView::set_spans(std::vector<SpanItem> spans) {
    spans_ = std::move(spans);
    viewport()->update();
}

void TimelineView::set_highlighted(std::set<int> requests) {
    highlighted_ = std::move(requests);
    viewport()->update();
}

void TimelineView::set_range(uint64_t from_ns, uint64_t to_ns) {
    from_ns_ = from_ns;
    to_ns_ = std::max(to_ns, from_ns + 1);
    refresh_series();
}

void TimelineView::reset_range() {
    if (!timeline_) {
        set_range(0, 1);
        return;
    }
    set_range(timeline_->first_ns, std::max(timeline_->last_ns, timeline_->first_ns + 1));
}

int TimelineView::drawn_points(analysis::MemorySeries series) const {
    switch (series) {
        case analysis::MemorySeries::NativeHeap: return int(native_->count());
        case analysis::MemorySeries::V8Committed: return int(v8_->count());
        case analysis::MemorySeries::Rss: return int(rss_->count());
    }
    return 0;
}

void TimelineView::refresh_series() {
    const uint64_t origin = this->origin();
    const double from_s = (double(from_ns_) - double(origin)) / 1e9;
    const double to_s = (double(to_ns_) - double(origin)) / 1e9;
    time_axis_->setRange(from_s, std::max(to_s, from_s + 1e-6));

    const bool has_process = timeline_ && process_ < timeline_->processes.size();
    const size_t columns = size_t(std::max(1.0, chart()->plotArea().width()));
    double max_mib = 1;
    const std::pair<QLineSeries*, analysis::MemorySeries> lines[] = {
        {native_, analysis::MemorySeries::NativeHeap},
        {v8_, analysis::MemorySeries::V8Committed},
        {rss_, analysis::MemorySeries::Rss},
    };
    for (const auto& [series, kind] : lines) {
        QList<QPointF> points;
        if (has_process) {
            const auto& source = timeline_->processes[process_].points;
            for (const analysis::MinMaxColumn& column :
                 analysis::downsample_min_max(source, kind, from_ns_, to_ns_ + 1, columns)) {
                // Each column becomes its minimum and maximum in the order they happened,
                // so a spike inside one pixel still shows.
                const bool min_first = column.min_time_ns <= column.max_time_ns;
                const std::pair<uint64_t, int64_t> first{min_first ? column.min_time_ns : column.max_time_ns,
                                                          min_first ? column.min : column.max};
                const std::pair<uint64_t, int64_t> second{min_first ? column.max_time_ns : column.min_time_ns,
                                                           min_first ? column.max : column.min};
                for (const auto& [time, value] : {first, second}) {
                    points.append(QPointF((double(time) - double(origin)) / 1e9, double(value) / kMiB));
                }
                max_mib = std::max(max_mib, double(column.max) / kMiB);
            }
        }
        series->replace(points);
    }
    bytes_axis_->setRange(0, max_mib * 1.08);
    viewport()->update();
}

QRectF TimelineView::plot_area_in_scene() const {
    return chart()->mapRectToScene(chart()->plotArea());
}

double TimelineView::scene_x_of(uint64_t time_ns, const QRectF& plot) const {
    const double span = double(to_ns_ - from_ns_);
    const double offset = time_ns >= from_ns_ ? double(time_ns - from_ns_) : -double(from_ns_ - time_ns);
    return plot.left() + offset / span * plot.width();
}

uint64_t TimelineView::time_at(double widget_x) const {
    const QRectF plot = plot_area_in_scene();
    const double scene_x = mapToScene(QPoint(int(widget_x), 0)).x();
    const double fraction = std::clamp((scene_x - plot.left()) / std::max(1.0, plot.width()), 0.0, 1.0);
    return from_ns_ + uint64_t(fraction * double(to_ns_ - from_ns_));
}

const SpanItem* TimelineView::span_at(QPoint position) const {
    const QRectF plot = plot_area_in_scene();
    const QPointF scene = mapToScene(position);
    if (!plot.contains(scene) || spans_.empty()) return nullptr;
    const uint64_t time = time_at(position.x());
    // Spans are sorted by start: look back from the last one starting at or before the
    // cursor, and prefer the shortest span containing it (the most specific request).
    auto it = std::upper_bound(spans_.begin(), spans_.end(), time,
                               [](uint64_t t, const SpanItem& span) { return t < span.start_ns; });
    const SpanItem* best = nullptr;
    for (size_t looked = 0; it != spans_.begin() && looked < kHoverLookback; ++looked) {
        --it;
        const uint64_t end = std::max(it->end_ns, it->start_ns);
        if (time > end) continue;
        if (best == nullptr || end - it->start_ns < best->end_ns - best->start_ns) best = &*it;
    }
    return best;
}

void TimelineView::resizeEvent(QResizeEvent* event) {
    QChartView::resizeEvent(event);
    refresh_series();
}

void TimelineView::paintEvent(QPaintEvent* event) {
    QChartView::paintEvent(event);
    const bool has_points = timeline_ && native_->count() > 0;
    if (first_paint_pending_ && has_points) {
        first_paint_pending_ = false;
        emit firstPaint();
    }
}

void TimelineView::drawForeground(QPainter* painter, const QRectF& rect) {
    QChartView::drawForeground(painter, rect);
    const QRectF plot = plot_area_in_scene();
    if (spans_.empty() || plot.width() <= 0) return;
    painter->save();
    painter->setClipRect(plot);
    painter->setRenderHint(QPainter::Antialiasing, false);
    // Spans narrower than a pixel are widened to one, so short requests stay visible.
    for (const SpanItem& span : spans_) {
        const uint64_t end = std::max(span.end_ns, span.start_ns);
        if (end < from_ns_ || span.start_ns > to_ns_) continue;
        const double left = scene_x_of(span.start_ns, plot);
        const double width = std::max(1.0, scene_x_of(end, plot) - left);
        const bool highlighted = span.request >= 0 && highlighted_.count(span.request) > 0;
        QColor fill = span.color;
        fill.setAlpha(highlighted ? 110 : 45);
        painter->fillRect(QRectF(left, plot.top(), width, plot.height()), fill);
        if (highlighted) {
            painter->setPen(QPen(QColor(20, 60, 200), 2));
            painter->drawRect(QRectF(left, plot.top() + 1, width, plot.height() - 2));
        }
    }
    painter->restore();
}

void TimelineView::mousePressEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton && plot_area_in_scene().contains(mapToScene(event->pos()))) {
        drag_start_x_ = event->pos().x();
        rubber_band_->setGeometry(QRect(drag_start_x_, 0, 0, height()));
        rubber_band_->show();
        return;
    }
    QChartView::mousePressEvent(event);
}

void TimelineView::mouseMoveEvent(QMouseEvent* event) {
    if (drag_start_x_ >= 0) {
        const int left = std::min(drag_start_x_, event->pos().x());
        rubber_band_->setGeometry(QRect(left, 0, std::abs(event->pos().x() - drag_start_x_), height()));
        return;
    }
    if (const SpanItem* span = span_at(event->pos())) {
        QToolTip::showText(event->globalPosition().toPoint(), span->tooltip, this);
    } else {
        QToolTip::hideText();
    }
    QChartView::mouseMoveEvent(event);
}

void TimelineView::mouseReleaseEvent(QMouseEvent* event) {
    if (drag_start_x_ < 0 || event->button() != Qt::LeftButton) {
        QChartView::mouseReleaseEvent(event);
        return;
    }
    rubber_band_->hide();
    const int start = drag_start_x_;
    drag_start_x_ = -1;
    if (std::abs(event->pos().x() - start) < kMinimumDragPixels) {
        if (const SpanItem* span = span_at(event->pos()); span != nullptr && span->request >= 0) {
            emit requestClicked(span->request);
        }
        return;
    }
    const uint64_t a = time_at(start);
    const uint64_t b = time_at(event->pos().x());
    set_range(std::min(a, b), std::max(a, b));
    emit rangeSelected(from_ns_, to_ns_);
}

}  // namespace routeheap::gui
