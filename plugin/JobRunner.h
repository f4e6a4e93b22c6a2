// The background job runner every offline panel shares (Master, MIDI tools): one task at a time on the job's
// own thread, never the audio thread or the message thread; busy and cancel flags; a status snapshot the
// panel's timer reads (state, progress, stage, the latest error); and `guarded`, which turns how a task ended
// into that status: cancelled, a message for the musician (what() of a std::invalid_argument), or
// "<what> failed: ..." for anything else.
//
// Snapshot is the job's own status struct. It needs `State state` (an enum with Failed and Cancelled),
// `double progress`, `juce::String stage` and `juce::String error`; the job adds whatever it shows.
//
// Also here: the file operations the panels share (the same file under two names, an atomic copy, a run's
// folder written in hiding and renamed into place) and the musician's message for what a tool refused.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <juce_core/juce_core.h>

#include "Action.h"

namespace tonemorph::plugin {

template <typename Snapshot>
class JobRunner final {
public:
    using State = decltype(Snapshot::state);

    explicit JobRunner(juce::String threadName) : threadName_(std::move(threadName)) {}
    ~JobRunner() { stop(); }
    JobRunner(const JobRunner&) = delete;
    JobRunner& operator=(const JobRunner&) = delete;

    // Cancels a running task and waits for it. The owning job calls this first in its destructor, before
    // anything the task touches is destroyed.
    void stop() {
        cancel();
        if (thread_.joinable()) thread_.join();
    }

    // Runs `task` on the job thread in `state`, showing `stage`; false (and nothing done) while a task runs.
    bool launch(State state, const juce::String& stage, std::function<void()> task) {
        if (busy_.exchange(true)) return false;
        if (thread_.joinable()) thread_.join();  // the previous task is done (busy_ was false): this returns at once
        cancel_.store(false);
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            status_.state = state;
            status_.progress = 0.0;
            status_.stage = stage;
            status_.error.clear();
        }
        thread_ = std::thread([this, task = std::move(task)] {
            juce::Thread::setCurrentThreadName(threadName_);
            task();
            busy_.store(false);
        });
        return true;
    }

    void cancel() { cancel_.store(true); }
    bool busy() const { return busy_.load(); }
    const std::atomic<bool>* cancelFlag() const { return &cancel_; }
    void throwIfCancelled() const {
        if (cancel_.load()) throw Cancelled();
    }

    Snapshot status() const {
        const std::lock_guard<std::mutex> lock(mutex_);
        return status_;
    }
    // Changes the status under its lock: update([&](Snapshot& s) { ... }).
    template <typename Change>
    void update(Change change) {
        const std::lock_guard<std::mutex> lock(mutex_);
        change(status_);
    }

    // "analysing" -> "Analysing..." on the progress bar.
    void setProgress(double fraction, const juce::String& stage) {
        update([&](Snapshot& s) {
            s.progress = fraction;
            s.stage = stage.substring(0, 1).toUpperCase() + stage.substring(1) + "...";
        });
    }

    // The task ended well: `state`, progress 1 and `stage` on the bar; fill(snapshot) sets what it made.
    template <typename Fill>
    void finish(State state, const juce::String& stage, Fill fill) {
        update([&](Snapshot& s) {
            s.state = state;
            s.progress = 1.0;
            s.stage = stage;
            fill(s);
        });
    }

    void fail(const juce::String& error) {
        update([&](Snapshot& s) {
            s.state = State::Failed;
            s.error = error;
        });
    }

    // Runs `work` and says how it ended when it throws (see the top of the file).
    template <typename Work>
    void guarded(const char* what, Work work) {
        try {
            work();
        } catch (const Cancelled&) {
            update([](Snapshot& s) {
                s.state = State::Cancelled;
                s.stage = "Cancelled";
            });
        } catch (const std::invalid_argument& e) {
            fail(juce::String::fromUTF8(e.what()));
        } catch (const std::exception& e) {
            fail(juce::String(what) + " failed: " + juce::String::fromUTF8(e.what()));
        }
    }

private:
    const juce::String threadName_;
    mutable std::mutex mutex_;  // guards status_ (control threads and the job thread; never the audio thread)
    Snapshot status_;
    std::atomic<bool> busy_{false}, cancel_{false};
    std::thread thread_;
};

// 'name.ext', as messages name files.
juce::String quoted(const juce::File& file);

// The same file under two names (a symbolic link, a hard link, "a/../b") counts as the same file.
bool sameFile(const juce::File& a, const juce::File& b);

// Copies `source` to `destination` through a hidden temporary file beside it, renamed over it only when
// complete (fsync first): a failed or cancelled copy leaves the destination as it was. Throws Cancelled when
// *cancel becomes true, std::runtime_error when the disk refuses. progress(fraction) as it goes.
void atomicCopy(const juce::File& source, const juce::File& destination, const std::atomic<bool>* cancel,
                const std::function<void(double)>& progress = {});

// The musician's message for what a tool refused (the tool's what() says which file and why): `message`
// with its first letter in capitals, thrown as std::invalid_argument.
[[noreturn]] void refuse(const std::string& message);

// Runs `work`, turning the tool's own `Error` into a message for the musician.
template <typename Error, typename Work>
auto musician(Work work) -> decltype(work()) {
    try {
        return work();
    } catch (const Error& e) {
        refuse(e.what());
    }
}

// Writes `data` as `file` (through a temporary file beside it); std::runtime_error when the disk refuses.
void writeFileAtomically(const juce::File& file, const void* data, std::size_t size);

// A job's run: its files go into the hidden `partial` folder, renamed to `folder` when complete.
struct RunFolders {
    juce::File folder, partial;
};

// Creates `root`, deletes its run folders older than `days` (earlier sessions'; each plugin keeps its own
// latest in view) and a new hidden partial folder for a run named `stem`.
RunFolders startRun(const juce::File& root, const juce::String& stem, double days);

// Runs write(partial folder), then renames it to the run's folder: a cancelled or failed run (write throws)
// leaves nothing.
template <typename Write>
void writeRun(const RunFolders& run, Write write) {
    try {
        write(run.partial);
        if (!run.partial.moveFileTo(run.folder))
            throw std::runtime_error("cannot move the results to " + run.folder.getFullPathName().toStdString());
    } catch (...) {
        run.partial.deleteRecursively();
        throw;
    }
}

}  // namespace tonemorph::plugin
