// Loads a session on a worker thread and reports the preview, progress, result or error
// to the GUI thread through queued signals, so the window never waits on the disk.
#pragma once

#include <routeheap/analysis/session_view.h>

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <memory>

namespace routeheap::gui {

// Owns at most one load at a time; starting another cancels the running one. Lives on
// the GUI thread, and every signal is delivered there.
class SessionLoader : public QObject {
    Q_OBJECT
public:
    explicit SessionLoader(QObject* parent = nullptr);
    ~SessionLoader() override;

    void load(const QString& path);
    void cancel();
    bool busy() const { return thread_ != nullptr; }

signals:
    void previewReady(std::shared_ptr<const routeheap::analysis::SessionTimeline> preview);
    void progress(const QString& stage, double fraction);
    void loaded(std::shared_ptr<routeheap::analysis::SessionView> view);
    void failed(const QString& path, const QString& message);

private:
    void finishThread();

    QThread* thread_ = nullptr;
    std::shared_ptr<std::atomic<bool>> cancelled_;
    quint64 generation_ = 0;  // ignores signals from a load that was replaced
};

}  // namespace routeheap::gui
