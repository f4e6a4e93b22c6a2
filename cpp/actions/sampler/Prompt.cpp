#include "Prompt.h"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "ModelMetadata.h"
#include "SoundGenerator.h"

namespace tonemorph::sampler {

namespace {

constexpr std::size_t kMaxWordChars = 64;

// Python's str.split separators in ASCII (what re's \s matches there), and the comma a prompt may use.
bool separates(unsigned char c) { return c == ',' || c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> items;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, separator)) items.push_back(item);
    return items;
}

[[noreturn]] void bad(const std::string& key, const std::string& text, const std::string& wanted) {
    throw BadMetadata("metadata '" + key + "' has '" + printable_text(text) + "', not " + wanted);
}

int whole_number(const std::string& key, const std::string& text, int low, int high) {
    std::size_t used = 0;
    int value = 0;
    try {
        value = std::stoi(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (text.empty() || used != text.size() || value < low || value > high)
        bad(key, text, "a whole number " + std::to_string(low) + ".." + std::to_string(high));
    return value;
}

bool word_text(const std::string& word) {
    if (word.empty() || word.size() > kMaxWordChars) return false;
    return std::all_of(word.begin(), word.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > ' ' && u < 0x7f && !separates(u) && c != ';' && c != '=' && c != ':' && !(c >= 'A' && c <= 'Z');
    });
}

VocabularyWord read_word(const std::string& entry, const std::vector<int>& condition_values) {
    const auto equals = entry.find('='), colon = entry.find(':');
    if (equals == std::string::npos || colon == std::string::npos || colon < equals)
        bad("words", entry, "word=condition:value");
    VocabularyWord w;
    w.word = entry.substr(0, equals);
    if (!word_text(w.word)) bad("words", entry, "a lower-case word of printable characters");
    w.condition = whole_number("words", entry.substr(equals + 1, colon - equals - 1), 0, kConditionCount - 1);
    w.value = whole_number("words", entry.substr(colon + 1), 0,
                           condition_values[static_cast<std::size_t>(w.condition)] - 1);
    return w;
}

const VocabularyWord* find_word(const Vocabulary& vocabulary, const std::string& word) {
    const auto it = std::lower_bound(vocabulary.words.begin(), vocabulary.words.end(), word,
                                     [](const VocabularyWord& w, const std::string& text) { return w.word < text; });
    return it != vocabulary.words.end() && it->word == word ? &*it : nullptr;
}

// Levenshtein distance: insertions, deletions and substitutions of one character, each costing 1.
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

}  // namespace

Vocabulary read_vocabulary(const std::map<std::string, std::string>& meta, const std::vector<int>& condition_values) {
    Vocabulary vocabulary;
    const auto words = meta.find("words");
    if (words == meta.end()) return vocabulary;
    vocabulary.present = true;
    if (!words->second.empty())
        for (const auto& entry : split(words->second, ';')) vocabulary.words.push_back(read_word(entry, condition_values));
    if (vocabulary.words.size() > static_cast<std::size_t>(kMaxVocabularyWords))
        bad("words", words->second, "at most " + std::to_string(kMaxVocabularyWords) + " words");
    std::sort(vocabulary.words.begin(), vocabulary.words.end(),
              [](const VocabularyWord& a, const VocabularyWord& b) { return a.word < b.word; });
    for (std::size_t i = 1; i < vocabulary.words.size(); ++i)
        if (vocabulary.words[i].word == vocabulary.words[i - 1].word)
            bad("words", vocabulary.words[i].word, "a word listed once");
    const std::size_t kinds = static_cast<std::size_t>(condition_values[0] - 1);  // the last is "unspecified"
    vocabulary.kind_names = split(metadata_text(meta, "kind_names"), ',');
    if (vocabulary.kind_names.size() != kinds || !std::all_of(vocabulary.kind_names.begin(),
                                                             vocabulary.kind_names.end(), word_text))
        bad("kind_names", meta.at("kind_names"), std::to_string(kinds) + " comma-separated kind names");
    vocabulary.kind_sounds = metadata_ints(meta, "kind_sounds", kinds, 0, 1 << 30);
    return vocabulary;
}

std::vector<std::string> prompt_tokens(const std::string& prompt) {
    std::vector<std::string> tokens;
    std::string token;
    for (char c : prompt) {
        if (separates(static_cast<unsigned char>(c))) {
            if (!token.empty()) tokens.push_back(token);
            token.clear();
        } else {
            token += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        }
    }
    if (!token.empty()) tokens.push_back(token);
    return tokens;
}

std::vector<std::string> nearest_words(const Vocabulary& vocabulary, const std::string& word) {
    const std::size_t cutoff = std::max<std::size_t>(1, word.size() / 2);
    std::vector<std::pair<std::size_t, std::size_t>> ranked;  // (distance, index)
    for (std::size_t i = 0; i < vocabulary.words.size(); ++i) {
        const std::size_t d = edit_distance(word, vocabulary.words[i].word);
        if (d <= cutoff) ranked.emplace_back(d, i);
    }
    std::stable_sort(ranked.begin(), ranked.end());
    std::vector<std::string> near;
    for (std::size_t i = 0; i < ranked.size() && near.size() < static_cast<std::size_t>(kNearestWords); ++i)
        near.push_back(vocabulary.words[ranked[i].second].word);
    return near;
}

std::vector<std::int64_t> parse_prompt(const SamplerInfo& info, const std::string& prompt) {
    std::vector<std::int64_t> conditions(info.unspecified.begin(), info.unspecified.end());
    const std::vector<std::string> tokens = prompt_tokens(prompt);
    if (tokens.empty()) return conditions;
    const Vocabulary& vocabulary = info.vocabulary;
    if (!vocabulary.present)
        throw SamplerError("'" + info.path + "' has no word list (it was exported before words were stored for the "
                           "C++ core), so it cannot follow the prompt '" + printable_text(prompt, 200) +
                           "'; re-export it with this version of tonemorph, or generate without words.");
    std::vector<std::string> said(kConditionCount);
    for (std::size_t i = 0; i < tokens.size();) {
        const VocabularyWord* found = i + 1 < tokens.size() ? find_word(vocabulary, tokens[i] + tokens[i + 1]) : nullptr;
        const std::string word = found ? tokens[i] + tokens[i + 1] : tokens[i];
        i += found ? 2 : 1;
        if (!found) found = find_word(vocabulary, word);
        if (!found) {
            const auto kind = std::find(vocabulary.kind_names.begin(), vocabulary.kind_names.end(), word);
            if (kind != vocabulary.kind_names.end()) {  // a kind tonemorph knows, absent from this model's data
                std::vector<std::string> trained;
                for (std::size_t k = 0; k < vocabulary.kind_names.size(); ++k)
                    if (vocabulary.kind_sounds[k] > 0) trained.push_back(vocabulary.kind_names[k]);
                throw SamplerError("unknown word '" + word + "' in the prompt '" + printable_text(prompt, 200) +
                                   "'; this sampler was trained on no " + word + " sounds (its kinds: " +
                                   (trained.empty() ? "none" : joined(trained)) + ").");
            }
            const std::vector<std::string> near = nearest_words(vocabulary, word);
            std::vector<std::string> known;
            for (const auto& w : vocabulary.words) known.push_back(w.word);
            throw SamplerError("unknown word '" + printable_text(word, kMaxWordChars) + "' in the prompt '" +
                               printable_text(prompt, 200) + "'; " +
                               (near.empty() ? "known words: " + (known.empty() ? "none" : joined(known))
                                             : "nearest known words: " + joined(near)) +
                               ".");
        }
        const auto c = static_cast<std::size_t>(found->condition);
        if (!said[c].empty() && conditions[c] != found->value)
            throw SamplerError("the prompt '" + printable_text(prompt, 200) + "' asks for both '" + said[c] +
                               "' and '" + word + "'; keep one.");
        conditions[c] = found->value;
        said[c] = word;
    }
    return conditions;
}

}  // namespace tonemorph::sampler
