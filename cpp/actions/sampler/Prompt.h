// A sampler's words and the prompts made of them: "short bright snare" -> one value per condition.
//
// The vocabulary is stored flat in the model's metadata (training/sampler/export.py), so no JSON is read:
//     words       "bright=1:2;crisp=1:2;kick=0:0;..."   word=condition index:value (a kind by its index in
//                                                         kind_names, a descriptor by its bin)
//     kind_names  "kick,snare,clap,..."                  condition 0's values in index order
//     kind_sounds "4,4,0,..."                            training sounds of each kind
// A prompt is split at whitespace and commas and lower-cased (ASCII); two neighbours written together are
// tried first ("hi hat" -> "hihat"), as tonemorph/sampler/words.py parse_prompt does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tonemorph::sampler {

struct SamplerInfo;

struct VocabularyWord {
    std::string word;
    int condition = 0;  // 0 kind, then the descriptors in SoundGenerator.h's kConditionNames order
    int value = 0;      // a kind index, or a descriptor bin
};

struct Vocabulary {
    bool present = false;               // false: the model was exported before its words were stored flat
    std::vector<VocabularyWord> words;  // sorted by word
    std::vector<std::string> kind_names;
    std::vector<int> kind_sounds;  // beside kind_names
};

constexpr int kNearestWords = 3;
constexpr int kMaxVocabularyWords = 4096;

// The vocabulary in `meta` (absent: present = false). BadMetadata (ModelMetadata.h) for a malformed one;
// condition_values bounds each word's value.
Vocabulary read_vocabulary(const std::map<std::string, std::string>& meta, const std::vector<int>& condition_values);

// The prompt's words in order (lower-cased, split at whitespace and commas).
std::vector<std::string> prompt_tokens(const std::string& prompt);

// Up to kNearestWords known words nearest to `word` by edit distance (ties by the vocabulary's order), or
// none within half the word's length.
std::vector<std::string> nearest_words(const Vocabulary& vocabulary, const std::string& word);

// kConditionCount values: what the prompt's words ask, the model's unspecified value elsewhere. An empty
// prompt asks nothing. SamplerError naming an unknown word and the nearest known ones, two words asking
// different values of one condition, or a model without a word list.
std::vector<std::int64_t> parse_prompt(const SamplerInfo& info, const std::string& prompt);

}  // namespace tonemorph::sampler
