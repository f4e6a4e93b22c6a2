// Reading an offline action's model metadata (ONNX metadata_props, all strings): whole numbers, numbers and
// comma-separated lists, each checked against its range. A missing or bad value throws BadMetadata with the
// reason ("metadata 'hop' is 'x', not a whole number 1..65536"); the caller adds the file's name and kind.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tonemorph {

class BadMetadata final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Metadata = std::map<std::string, std::string>;

// At most max_chars of `text`, non-printable characters as '?', for messages that quote a file's bytes.
std::string printable_text(const std::string& text, std::size_t max_chars = 40);

const std::string& metadata_text(const Metadata& meta, const std::string& key);
int metadata_int(const Metadata& meta, const std::string& key, int low, int high);
double metadata_double(const Metadata& meta, const std::string& key, double low, double high);
// "15,4,4" -> {15, 4, 4}: exactly `count` whole numbers, each low..high.
std::vector<int> metadata_ints(const Metadata& meta, const std::string& key, std::size_t count, int low, int high);

}  // namespace tonemorph
