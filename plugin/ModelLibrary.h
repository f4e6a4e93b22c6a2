// Where the plugin finds models, the same places as the CLI (tonemorph/paths.py): the instruments
// bundled inside the plugin bundle, and the per-user model folder that `tonemorph train` writes to
// ($TONEMORPH_MODELS, else ~/.local/share/tonemorph/models on Linux).
#pragma once

#include <optional>
#include <vector>

#include <juce_core/juce_core.h>

namespace tonemorph::plugin {

struct ModelEntry {
    enum class Source { Bundled, User, File };
    juce::String name;  // the file name without .onnx
    juce::File file;
    Source source = Source::File;
};

class ModelLibrary final {
public:
    static constexpr const char* kDefaultModelName = "trumpet";

    static juce::File bundledDir();  // models/ inside this plugin's bundle (or beside the Standalone app)
    static juce::File userDir();

    // Scans both folders (files only; a broken file is found here and refused when loaded).
    void refresh();
    // The .onnx files in `subfolder` of both folders ("": the instruments; "sampler": the samplers), the
    // bundled first, each sorted by name.
    static std::vector<ModelEntry> scan(const juce::String& subfolder = {});
    const std::vector<ModelEntry>& entries() const { return entries_; }

    // User models shadow bundled ones of the same name, as in the CLI.
    std::optional<ModelEntry> findByName(const juce::String& name) const;
    // The trumpet if bundled, else the first bundled model, else the first user model.
    std::optional<ModelEntry> defaultModel() const;

private:
    std::vector<ModelEntry> entries_;
};

}  // namespace tonemorph::plugin
