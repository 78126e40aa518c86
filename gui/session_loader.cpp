// The worker-thread session load: runs load_session_view and posts its stages back.
#include "session_loader.h"

#include <QMetaObject>
#include <QPointer>

#include <exception>
#include <stdexcept>

namespace routeheap::gui {

namespace {

// Thrown from the observer to stop a load that was cancelled.
struct LoadCancelled {};

// Forwards the loader's stages to the GUI thread; throws LoadCancelled once the
// window asked to stop.
class ForwardingObserver : public analysis::SessionLoadObserver {
public:
    ForwardingObserver(QPointer<SessionLoader> loader, std::shared_ptr<std::atomic<bool>> cancelled,
                       std::function<void(std::function<void(SessionLoader&)>)> post)
        : loader_(std::move(loader)), cancelled_(std::move(cancelled)), post_(std::move(post)) {}

    void on_preview(const analysis::SessionTimeline& preview) override {
        check_cancelled();
        auto shared = std::make_shared<const analysis::SessionTimeline>(preview);
        post_([shared](SessionLoader& loader) { emit loader.previewReady(shared); });
    }

    void on_progress(const std::string& stage, double fraction) override {
        check_cancelled();
        // Posting every block would flood the event queue: a change of 0.5% or a new
        // stage is enough for a progress bar.
        if (stage == last_stage_ && fraction - last_fraction_ < 0.005 && fraction < 1.0) return;
        last_stage_ = stage;
        last_fraction_ = fraction;
        const QString text = QString::fromStdString(stage);
        post_([text, fraction](SessionLoader& loader) { emit loader.progress(text, fraction); });
    }

private:
    void check_cancelled() const {
        if (cancelled_->load()) throw LoadCancelled{};
    }

    QPointer<SessionLoader> loader_;
    std::shared_ptr<std::atomic<bool>> cancelled_;
    std::function<void(std::function<void(SessionLoader&)>)> post_;
    std::string last_stage_;
    double last_fraction_ = -1;
};

}  // namespace

SessionLoader::SessionLoader(QObject* parent) : QObject(parent) {}

SessionLoader::~SessionLoader() {
    cancel();
}

void SessionLoader::load(const QString& path) {
    cancel();
    const quint64 generation = ++generation_;
    cancelled_ = std::make_shared<std::atomic<bool>>(false);
    QPointer<SessionLoader> self(this);
    // Runs `action` on the GUI thread unless the loader is gone or a newer load started.
    auto post = [self, generation](std::function<void(SessionLoader&)> action) {
        QMetaObject::invokeMethod(
            self.data(),
            [self, generation, action = std::move(action)] {
                if (self && self->generation_ == generation) action(*self);
            },
            Qt::QueuedConnection);
    };

    const std::string file = path.toStdString();
    auto cancelled = cancelled_;
    thread_ = QThread::create([file, path, cancelled, post, self] {
        ForwardingObserver observer(self, cancelled, post);
        try {
            std::shared_ptr<analysis::SessionView> view = analysis::load_session_view(file, observer);
            post([view](SessionLoader& loader) {
                loader.finishThread();
                emit loader.loaded(view);
            });
        } catch (const LoadCancelled&) {
            return;
        } catch (const std::exception& error) {
            const QString message = QString::fromStdString(error.what());
            post([path, message](SessionLoader& loader) {
                loader.finishThread();
                emit loader.failed(path, message);
            });
        }
    });
    thread_->start();
}

void SessionLoader::cancel() {
    if (thread_ == nullptr) return;
    cancelled_->store(true);
    ++generation_;
    // The reader checks the flag after every block, so the wait is one block's work.
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
}

void SessionLoader::finishThread() {
    if (thread_ == nullptr) return;
    thread_->wait();
    delete thread_;
    thread_ = nullptr;
}

}  // namespace routeheap::gui
