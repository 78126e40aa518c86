// The memory timeline chart. It draws native heap, V8 committed and RSS of the session's
// main process downsampled to min/max per pixel column, and shades request spans by their
// worst finding. Hovering names the request under the cursor, and dragging zooms.
#pragma once

#include <routeheap/analysis/timeline.h>

#include <QChartView>
#include <QColor>
#include <QElapsedTimer>
#include <QString>

#include <memory>
#include <set>
#include <vector>

class QLineSeries;
class QRubberBand;
class QValueAxis;

namespace routeheap::gui {

// One request drawn on the timeline.
struct SpanItem {
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    QColor color;
    int request = -1;  // index in SessionAnalysis::requests, -1 in a preview
    QString tooltip;
};

class TimelineView : public QChartView {
    Q_OBJECT
public:
    explicit TimelineView(QWidget* parent = nullptr);

    // Shows a timeline (a preview or the full one) over its whole time range, with
    // times on the axis counted from `origin_ns`.
    void set_timeline(std::shared_ptr<const analysis::SessionTimeline> timeline, uint64_t origin_ns);
    void set_spans(std::vector<SpanItem> spans);  // sorted by start
    void set_highlighted(std::set<int> requests);
    void set_range(uint64_t from_ns, uint64_t to_ns);
    void reset_range();

    uint64_t range_from() const { return from_ns_; }
    uint64_t range_to() const { return to_ns_; }
    uint64_t origin() const { return origin_ns_; }
    // Points drawn per line in the last refresh, at most two per pixel column.
    int drawn_points(analysis::MemorySeries series) const;
    const std::vector<SpanItem>& spans() const { return spans_; }
    // The span under a widget position, or nullptr.
    const SpanItem* span_at(QPoint position) const;

signals:
    void rangeSelected(quint64 from_ns, quint64 to_ns);
    void requestClicked(int request);
    // The first paint that drew memory lines, once per timeline set.
    void firstPaint();

protected:
    void resizeEvent(QResizeEvent* event) override;
    void paintEvent(QPaintEvent* event) override;
    void drawForeground(QPainter* painter, const QRectF& rect) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;

private:
    void refresh_series();
    QRectF plot_area_in_scene() const;
    // Time at a widget x coordinate, clamped to the shown range.
    uint64_t time_at(double widget_x) const;
    double scene_x_of(uint64_t time_ns, const QRectF& plot) const;

    std::shared_ptr<const analysis::SessionTimeline> timeline_;
    size_t process_ = 0;
    std::vector<SpanItem> spans_;
    std::set<int> highlighted_;
    uint64_t origin_ns_ = 0;
    uint64_t from_ns_ = 0;
    uint64_t to_ns_ = 0;
    QLineSeries* native_;
    QLineSeries* v8_;
    QLineSeries* rss_;
    QValueAxis* time_axis_;
    QValueAxis* bytes_axis_;
    QRubberBand* rubber_band_;
    int drag_start_x_ = -1;
    bool first_paint_pending_ = false;
};

}  // namespace routeheap::gui
