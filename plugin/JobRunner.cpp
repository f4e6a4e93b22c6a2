#include "JobRunner.h"

#include <algorithm>

namespace tonemorph::plugin {

namespace {
constexpr int kCopyChunk = 1 << 20;
}

juce::String quoted(const juce::File& file) { return "'" + file.getFileName() + "'"; }

bool sameFile(const juce::File& a, const juce::File& b) {
    if (a == b || a.getLinkedTarget() == b.getLinkedTarget()) return true;
    return a.existsAsFile() && b.existsAsFile() && a.getFileIdentifier() != 0 &&
           a.getFileIdentifier() == b.getFileIdentifier();
}

void atomicCopy(const juce::File& source, const juce::File& destination, const std::atomic<bool>* cancel,
                const std::function<void(double)>& progress) {
    const juce::TemporaryFile temp(destination, juce::TemporaryFile::useHiddenFile);
    {
        juce::FileInputStream in(source);
        auto out = temp.getFile().createOutputStream();
        if (!in.openedOk() || out == nullptr || out->failedToOpen())
            throw std::runtime_error("cannot write in " + destination.getParentDirectory().getFullPathName().toStdString());
        const double total = static_cast<double>(std::max<juce::int64>(1, in.getTotalLength()));
        while (!in.isExhausted()) {
            if (cancel != nullptr && cancel->load()) throw Cancelled();
            if (out->writeFromInputStream(in, kCopyChunk) < 0 || out->getStatus().failed())
                throw std::runtime_error("writing " + destination.getFullPathName().toStdString() +
                                         " failed (is the disk full?)");
            if (progress) progress(static_cast<double>(in.getPosition()) / total);
        }
        out->flush();  // fsync before the rename
    }
    if (!temp.overwriteTargetFileWithTemporary())
        throw std::runtime_error("cannot move the file to " + destination.getFullPathName().toStdString());
}

}  // namespace tonemorph::plugin
