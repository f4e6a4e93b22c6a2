#include "ModelMetadata.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

namespace tonemorph {

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& text, const std::string& wanted) {
    throw BadMetadata("metadata '" + key + "' is '" + printable_text(text) + "', not " + wanted);
}

int parse_int(const std::string& key, const std::string& text, int low, int high) {
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value < low || value > high)
        bad(key, text, "a whole number " + std::to_string(low) + ".." + std::to_string(high));
    return static_cast<int>(value);
}

}  // namespace

std::string printable_text(const std::string& text, std::size_t max_chars) {
    std::string out;
    for (char c : text.substr(0, max_chars)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return out;
}

const std::string& metadata_text(const Metadata& meta, const std::string& key) {
    const auto it = meta.find(key);
    if (it == meta.end()) throw BadMetadata("metadata '" + key + "' is missing");
    return it->second;
}

int metadata_int(const Metadata& meta, const std::string& key, int low, int high) {
    return parse_int(key, metadata_text(meta, key), low, high);
}

double metadata_double(const Metadata& meta, const std::string& key, double low, double high) {
    const std::string& text = metadata_text(meta, key);
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value >= low && value <= high))
        bad(key, text, "a number in " + std::to_string(low) + ".." + std::to_string(high));
    return value;
}

std::vector<int> metadata_ints(const Metadata& meta, const std::string& key, std::size_t count, int low,
                               int high) {
    const std::string& text = metadata_text(meta, key);
    std::vector<int> values;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) values.push_back(parse_int(key, item, low, high));
    if (values.size() != count)
        bad(key, text, std::to_string(count) + " comma-separated whole numbers");
    return values;
}

}  // namespace tonemorph
