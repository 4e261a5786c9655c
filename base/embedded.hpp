// Files compiled into the binary (model graphs, hardware presets), so the CLI runs from anywhere.
#pragma once
#include <string>
#include <vector>

namespace eatsim {

struct EmbeddedFile {
  const char* path;  // relative to the source root, e.g. "models/resnet18.yaml"
  const char* contents;
};

const std::vector<EmbeddedFile>& embedded_files();

// Contents of an embedded file by path, or nullptr.
const char* find_embedded(const std::string& path);

}  // namespace eatsim
