// The fuzz targets' bodies, one per reader, shared by the libFuzzer executables (fuzz_*.cpp) and
// the regression tests that replay every input a fuzzer once crashed on (tests/fixtures/fuzz/).
// Each returns normally on any input: bad input must end in an eatsim::Error, which is caught here;
// anything else escaping (or a crash, or a sanitizer report) is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eatsim::fuzz {

void npy(const uint8_t* data, size_t size);         // the .npy reader
void trace(const uint8_t* data, size_t size);       // trace.yaml over real tensor files
void graph(const uint8_t* data, size_t size);       // model graph YAML
void hwconfig(const uint8_t* data, size_t size);    // top "\n%%\n" included file; "#set K=V" lines
void sweep(const uint8_t* data, size_t size);       // sweep file and its expansion
void regression(const uint8_t* data, size_t size);  // report JSON "\n%%\n" tolerance YAML
void checkpoint(const uint8_t* data, size_t size);  // checkpoint.yaml
void datasets(const uint8_t* data, size_t size);    // first byte: IDX, CIFAR-10 or GTSRB
void onnx(const uint8_t* data, size_t size);        // a .onnx model through `eatsim model import`
void scalesim(const uint8_t* data, size_t size);    // SCALE-Sim .cfg "\n%%\n" topology CSV, simulated
void ert(const uint8_t* data, size_t size);         // Accelergy ERT "\n%%\n" EVENT=COMPONENT:ACTION lines

// By name ("npy", "trace", ...); false when there is no such target.
bool run(const std::string& target, const uint8_t* data, size_t size);
std::vector<std::string> names();

}  // namespace eatsim::fuzz
