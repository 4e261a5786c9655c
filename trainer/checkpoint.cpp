// Checkpoint directory I/O (see checkpoint.hpp).
#include "trainer/checkpoint.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "traces/npy.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "eatsim-checkpoint";
constexpr int kVersion = 2;  // 2: optimiser state in optimizer/ (1: extra.NAME.npy beside the parameters)
// Optimiser state lives in a subfolder, so the top level holds exactly the state_dict keys.
constexpr const char* kOptimizerDir = "optimizer";
}  // namespace

namespace {
// NumericError naming the first tensor with a NaN or an infinity: such a state is never published.
void check_finite(const std::string& dir, const std::string& key, const Tensor& t) {
  for (size_t i = 0; i < t.data.size(); ++i)
    if (!std::isfinite(t.data[i]))
      throw NumericError(fmt::format("{}: tensor '{}' holds {} at index {}; the checkpoint was not written",
                                     dir, key, t.data[i], i));
}
}  // namespace

void save_checkpoint(const std::string& dir, const Net& net, const CheckpointMeta& meta,
                     const std::map<std::string, Tensor>& extra) {
  std::vector<std::pair<std::string, Tensor>> params;
  for (const ParamInfo& in : net.param_info()) {
    params.emplace_back(in.key, net.get(in.key));
    check_finite(dir, in.key, params.back().second);
  }
  for (const auto& [name, t] : extra) check_finite(dir, kOptimizerDir + std::string("/") + name, t);
  fs::path target = fs::absolute(dir);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  std::string staging = temp_name_for(target.lexically_normal().string());
  fs::create_directories(staging);
  try {
    const auto& info = net.param_info();
    for (size_t i = 0; i < info.size(); ++i) {
      const Tensor& t = params[i].second;
      std::string path = staging + "/" + info[i].key + ".npy";
      if (info[i].is_int64) {
        int64_t v = static_cast<int64_t>(t.data[0]);
        npy_save(path, DType::i64, info[i].shape, &v);
      } else {
        npy_save_f32(path, t.shape, t.data.data());
      }
    }
    if (!extra.empty()) fs::create_directories(staging + "/" + kOptimizerDir);
    for (const auto& [name, t] : extra)
      npy_save_f32(staging + "/" + kOptimizerDir + "/" + name + ".npy", t.shape, t.data.data());
    YAML::Emitter y;
    y << YAML::BeginMap << YAML::Key << "format" << YAML::Value << kFormat << YAML::Key << "version"
      << YAML::Value << kVersion << YAML::Key << "model" << YAML::Value << net.graph().name;
    const ModelParams& p = net.graph().params;
    y << YAML::Key << "params" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "width"
      << YAML::Value << p.width << YAML::Key << "in_channels" << YAML::Value << p.in_channels << YAML::Key
      << "input_size" << YAML::Value << YAML::Load(p.input_size_yaml()) << YAML::Key << "classes"
      << YAML::Value << p.classes << YAML::EndMap;
    y << YAML::Key << "epoch" << YAML::Value << meta.epoch;
    y << YAML::Key << "info" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : meta.info) y << YAML::Key << k << YAML::Value << v;
    y << YAML::EndMap << YAML::EndMap;
    atomic_write(staging + "/checkpoint.yaml", std::string(y.c_str()) + "\n");
    atomic_write(staging + "/model.yaml", graph_to_yaml(net.graph()));
    fsync_path(staging);
    publish_dir(staging, target.string(), true);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
}

CheckpointMeta read_checkpoint_meta(const std::string& dir) {
  std::string file = dir + "/checkpoint.yaml";
  if (!fs::exists(file))
    throw DataError(fmt::format(
        "{}: not a checkpoint (no checkpoint.yaml; give the directory `eatsim train` wrote)", dir));
  CheckpointMeta m;
  try {
    YAML::Node y = yamlu::parse<DataError>(read_text<DataError>(file), file);
    if (!y["format"] || y["format"].as<std::string>() != kFormat)
      throw DataError(fmt::format("{}: not an eatsim checkpoint (format should be '{}')", file, kFormat));
    const int version = y["version"].as<int>();
    if (version != 1 && version != kVersion)
      throw DataError(fmt::format("{}: checkpoint version {} is not supported (this build reads 1 and {})",
                                  file, version, kVersion));
    m.model = y["model"].as<std::string>();
    YAML::Node p = y["params"];
    m.params.width = p["width"].as<double>();
    m.params.in_channels = p["in_channels"].as<int>();
    if (p["input_size"].IsSequence())
      m.params.input_h = p["input_size"][0].as<int>(), m.params.input_w = p["input_size"][1].as<int>();
    else
      m.params.input_h = m.params.input_w = p["input_size"].as<int>();
    m.params.classes = p["classes"].as<int>();
    m.epoch = y["epoch"].as<int>();
    if (y["info"])
      for (const auto& kv : y["info"]) m.info[kv.first.as<std::string>()] = kv.second.as<std::string>();
  } catch (const YAML::Exception& e) {
    throw DataError(fmt::format("{}:{}: bad checkpoint metadata: {} (was the file edited?)", file,
                                e.mark.line + 1, e.msg));
  }
  return m;
}

CheckpointMeta load_checkpoint(const std::string& dir, Net& net, std::map<std::string, Tensor>* extra) {
  CheckpointMeta m = read_checkpoint_meta(dir);
  const Graph& g = net.graph();
  if (m.model != g.name)
    throw DataError(fmt::format("{}: checkpoint is of model '{}', not '{}' (pick the matching --model)", dir,
                                m.model, g.name));
  std::map<std::string, Tensor> state;
  for (const ParamInfo& in : net.param_info()) {
    std::string path = dir + "/" + in.key + ".npy";
    if (!fs::exists(path))
      throw DataError(fmt::format("{}: tensor '{}' is missing ({}.npy; the checkpoint is incomplete)", dir,
                                  in.key, in.key));
    NpyInfo info = npy_read_info(path);
    if (info.shape != in.shape)
      throw DataError(fmt::format("{}: tensor '{}' has shape {} but model '{}' (width {}) expects {}", path,
                                  in.key, shape_str(info.shape), g.name, g.params.width,
                                  shape_str(in.shape)));
    Tensor t(in.shape);
    if (in.is_int64) {
      t.data[0] = static_cast<float>(npy_load_i64(path)[0]);
    } else {
      t.data = npy_load_f32(path);
    }
    state.emplace(in.key, std::move(t));
  }
  net.load_state(state, dir);
  if (extra) {
    extra->clear();
    // optimizer/NAME.npy; checkpoints of earlier versions kept extra.NAME.npy beside the parameters.
    auto scan = [&](const std::string& folder, const std::string& prefix) {
      if (!fs::is_directory(folder)) return;
      for (const auto& e : fs::directory_iterator(folder)) {
        std::string name = e.path().filename().string();
        if (name.size() <= prefix.size() + 4 || name.rfind(prefix, 0) != 0 ||
            name.substr(name.size() - 4) != ".npy")
          continue;
        Tensor t;
        t.data = npy_load_f32(e.path().string(), &t.shape);
        (*extra)[name.substr(prefix.size(), name.size() - prefix.size() - 4)] = std::move(t);
      }
    };
    scan(dir + "/" + kOptimizerDir, "");
    scan(dir, "extra.");
  }
  return m;
}

}  // namespace eatsim
