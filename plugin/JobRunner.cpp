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

void refuse(const std::string& message) {
    const juce::String text = juce::String::fromUTF8(message.c_str());
    throw std::invalid_argument((text.substring(0, 1).toUpperCase() + text.substring(1)).toStdString());
}

void writeFileAtomically(const juce::File& file, const void* data, std::size_t size) {
    if (!file.replaceWithData(data, size))
        throw std::runtime_error("cannot write " + file.getFullPathName().toStdString() + " (is the disk full?)");
}

RunFolders startRun(const juce::File& root, const juce::String& stem, double days) {
    if (!root.createDirectory()) throw std::runtime_error("cannot create " + root.getFullPathName().toStdString());
    const juce::Time before = juce::Time::getCurrentTime() - juce::RelativeTime::days(days);
    for (const auto& entry : juce::RangedDirectoryIterator(root, false, "*", juce::File::findDirectories))
        if (entry.getModificationTime() < before) entry.getFile().deleteRecursively();
    RunFolders run{root.getNonexistentChildFile(stem, "", false),
                   root.getNonexistentChildFile("." + stem + "-partial", "", false)};
    if (!run.partial.createDirectory())
        throw std::runtime_error("cannot create " + run.partial.getFullPathName().toStdString());
    return run;
}

}  // namespace tonemorph::plugin
