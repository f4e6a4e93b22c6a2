#include "ModelLoader.h"

#include <chrono>

#include "ModelLibrary.h"

namespace tonemorph::plugin {

namespace {

std::shared_ptr<const Model> tryLoad(const juce::File& file, juce::String& error) {
    try {
        return Model::load(file.getFullPathName().toStdString());
    } catch (const std::exception& e) {
        error = juce::String::fromUTF8(e.what());
    } catch (...) {
        error = "'" + file.getFullPathName() + "' could not be loaded";
    }
    return nullptr;
}

}  // namespace

ModelLoader::ModelLoader(Callback onLoaded) : shared_(std::make_shared<Shared>()) {
    shared_->onLoaded = std::move(onLoaded);
    thread_ = std::thread(&ModelLoader::run, shared_);
}

ModelLoader::~ModelLoader() {
    Shared& s = *shared_;
    std::unique_lock<std::mutex> lock(s.mutex);
    s.stop = true;
    s.wake.notify_all();
    // A thread between requests exits at once and is joined (the host may unload our code next). One stuck
    // inside the file system gets kStopSeconds, then is let go: it holds its own state, and once `stop` is
    // set it calls nobody back (it checks under callbackMutex, which is taken here after stopping).
    const bool exited = s.idle.wait_for(lock, std::chrono::duration<double>(kStopSeconds), [&] { return s.exited; });
    lock.unlock();
    if (exited) thread_.join();
    else thread_.detach();
    const std::lock_guard<std::mutex> callback(s.callbackMutex);
}

void ModelLoader::request(Request request) {
    {
        const std::lock_guard<std::mutex> lock(shared_->mutex);
        shared_->pending = std::move(request);
        shared_->busy.store(true, std::memory_order_release);
    }
    shared_->wake.notify_all();
}

bool ModelLoader::waitUntilIdle(double seconds) {
    Shared& s = *shared_;
    std::unique_lock<std::mutex> lock(s.mutex);
    return s.idle.wait_for(lock, std::chrono::duration<double>(seconds),
                           [&] { return s.stop || (!s.pending && !s.working); });
}

ModelLoader::Result ModelLoader::load(const Request& request) {
    Result result;
    result.request = request;
    result.file = request.file;
    juce::String error;
    if (request.file != juce::File()) {
        if ((result.model = tryLoad(request.file, error))) {
            result.message = "Playing " + request.file.getFileNameWithoutExtension() + " (" +
                             request.file.getFullPathName() + ")";
            return result;
        }
    } else if (request.savedPath.isNotEmpty()) {
        error = "'" + request.savedPath + "' is not an absolute path to a model file";
    }
    result.isError = error.isNotEmpty();
    if (request.name.isEmpty() && !request.fallbackToDefault) {
        result.message = "Could not load " + request.file.getFileName() + ": " + error;
        return result;
    }
    ModelLibrary library;  // scanned here, on this thread: the folders may be slow too
    library.refresh();
    const juce::String wanted = request.name.isNotEmpty() ? "'" + request.name + "'" : juce::String("The saved model");
    if (request.name.isNotEmpty())
        if (auto byName = library.findByName(request.name); byName && byName->file != request.file)
            if ((result.model = tryLoad(byName->file, error))) {
                result.file = byName->file;
                result.message = wanted + (request.savedPath.isNotEmpty() ? " (" + request.savedPath + " is missing)" : "") +
                                 ": using the installed model of that name, " + byName->file.getFullPathName();
                result.isError = false;
                return result;
            }
    if (request.fallbackToDefault)
        if (auto fallback = library.defaultModel(); fallback && fallback->file != request.file)
            if ((result.model = tryLoad(fallback->file, error))) {
                result.file = fallback->file;
                result.message = (request.file == juce::File() && request.name.isEmpty() && request.savedPath.isEmpty()
                                      ? juce::String("Playing the default model '") + fallback->name + "'."
                                      : wanted + " could not be loaded (" + error + "); using the default model '" +
                                            fallback->name + "'.");
                result.isError = request.file != juce::File() || request.name.isNotEmpty() || request.savedPath.isNotEmpty();
                return result;
            }
    result.isError = true;
    result.message = error.isNotEmpty() ? "Could not load a model: " + error
                                        : "No model installed: put .onnx models in " +
                                              ModelLibrary::userDir().getFullPathName() +
                                              " and press Refresh, or use \"Load file...\"";
    return result;
}

void ModelLoader::run(std::shared_ptr<Shared> shared) {
    juce::Thread::setCurrentThreadName("tonemorph model loader");
    Shared& s = *shared;
    std::unique_lock<std::mutex> lock(s.mutex);
    for (;;) {
        s.wake.wait(lock, [&] { return s.stop || s.pending.has_value(); });
        if (s.stop) break;
        const Request request = std::move(*s.pending);
        s.pending.reset();
        s.working = true;
        lock.unlock();
        const Result result = load(request);
        {
            const std::lock_guard<std::mutex> callback(s.callbackMutex);
            bool stopped;
            {
                const std::lock_guard<std::mutex> state(s.mutex);
                stopped = s.stop;
            }
            if (!stopped) s.onLoaded(result);
        }
        lock.lock();
        s.working = false;
        if (!s.pending) s.busy.store(false, std::memory_order_release);
        s.idle.notify_all();
    }
    s.exited = true;
    s.idle.notify_all();
}

}  // namespace tonemorph::plugin
