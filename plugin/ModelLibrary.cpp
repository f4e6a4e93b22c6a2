#include "ModelLibrary.h"

namespace tonemorph::plugin {

namespace {
constexpr const char* kModelPattern = "*.onnx";

std::vector<juce::File> modelFiles(const juce::File& dir) {
    if (!dir.isDirectory()) return {};
    auto files = dir.findChildFiles(juce::File::findFiles, false, kModelPattern);
    std::sort(files.begin(), files.end(),
              [](const juce::File& a, const juce::File& b) { return a.getFileName() < b.getFileName(); });
    return {files.begin(), files.end()};
}
}  // namespace

juce::File ModelLibrary::bundledDir() {
    // The binary this code is in: the plugin's .so (VST3/LV2) or the Standalone executable.
    const auto binary = juce::File::getSpecialLocation(juce::File::currentExecutableFile);
    const auto here = binary.getParentDirectory();
    for (const auto& candidate : {here.getChildFile("models"), here.getSiblingFile("Resources").getChildFile("models")})
        if (candidate.isDirectory()) return candidate;
    return here.getChildFile("models");
}

juce::File ModelLibrary::userDir() {
    const auto env = juce::SystemStats::getEnvironmentVariable("TONEMORPH_MODELS", {});
    if (env.isNotEmpty()) {
        if (env.startsWith("~")) return juce::File::getSpecialLocation(juce::File::userHomeDirectory).getChildFile(env.substring(2));
        return juce::File(env);
    }
#if JUCE_MAC
    return juce::File::getSpecialLocation(juce::File::userApplicationDataDirectory)
        .getChildFile("Application Support/tonemorph/models");
#elif JUCE_WINDOWS
    return juce::File::getSpecialLocation(juce::File::userApplicationDataDirectory).getChildFile("tonemorph/models");
#else
    const auto xdg = juce::SystemStats::getEnvironmentVariable("XDG_DATA_HOME", {});
    const auto data = xdg.isNotEmpty() ? juce::File(xdg)
                                       : juce::File::getSpecialLocation(juce::File::userHomeDirectory).getChildFile(".local/share");
    return data.getChildFile("tonemorph/models");
#endif
}

void ModelLibrary::refresh() { entries_ = scan(); }

std::vector<ModelEntry> ModelLibrary::scan(const juce::String& subfolder) {
    std::vector<ModelEntry> entries;
    for (const auto& [dir, source] : {std::pair{bundledDir(), ModelEntry::Source::Bundled},
                                      std::pair{userDir(), ModelEntry::Source::User}}) {
        const juce::File folder = subfolder.isEmpty() ? dir : dir.getChildFile(subfolder);
        for (const auto& file : modelFiles(folder)) entries.push_back({file.getFileNameWithoutExtension(), file, source});
    }
    return entries;
}

std::optional<ModelEntry> ModelLibrary::findByName(const juce::String& name) const {
    std::optional<ModelEntry> found;
    for (const auto& e : entries_) {
        if (!e.name.equalsIgnoreCase(name)) continue;
        if (e.source == ModelEntry::Source::User) return e;
        if (!found) found = e;
    }
    return found;
}

std::optional<ModelEntry> ModelLibrary::defaultModel() const {
    for (const auto& e : entries_)
        if (e.source == ModelEntry::Source::Bundled && e.name.equalsIgnoreCase(kDefaultModelName)) return e;
    for (auto source : {ModelEntry::Source::Bundled, ModelEntry::Source::User})
        for (const auto& e : entries_)
            if (e.source == source) return e;
    return std::nullopt;
}

}  // namespace tonemorph::plugin
