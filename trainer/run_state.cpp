// A training run's state in its checkpoint and metrics.csv; see run_state.hpp. Everything that
// decides the next step (weights, momentum, BN statistics, epoch, position in the epoch, running
// sums) is in the checkpoint, so a resumed run continues bit for bit.
#include "trainer/run_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "base/files.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {

std::string num(double v) { return fmt::format("{}", v); }  // shortest round-trip form

// A number of checkpoint.yaml's info within [lo, hi]; anything else is a DataError naming it.
double parse_num(const std::map<std::string, std::string>& info, const std::string& k,
                 const std::string& where, double lo = -1e300, double hi = 1e300) {
  auto it = info.find(k);
  if (it == info.end())
    throw DataError(fmt::format("{}: checkpoint.yaml has no '{}' (not written by eatsim train?)", where, k));
  const std::string& s = it->second;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v >= lo && v <= hi))
    throw DataError(
        fmt::format("{}/checkpoint.yaml: info.{} is '{}', not a number in [{}, {}] (was the file "
                    "edited? start the run again without --resume)",
                    where, k, s, lo, hi));
  return v;
}

std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream x(a), y(b);
  std::string s, t;
  while (true) {
    bool a_ok = static_cast<bool>(x >> s), b_ok = static_cast<bool>(y >> t);
    if (!a_ok && !b_ok) return "?";
    if (!a_ok) return fmt::format("{} is new (not recorded in the checkpoint)", t);
    if (!b_ok) return fmt::format("{} (checkpoint) is not an option now", s);
    if (s != t) return fmt::format("{} (checkpoint) vs {} (now)", s, t);
  }
}

// The optimiser writes a whole parameter's worth into its momentum: shapes must match.
void restore_momentum(const std::string& ckpt, const Net& net, Sgd& sgd,
                      std::map<std::string, Tensor>& extra) {
  for (auto& [k, t] : extra) {
    if (k.rfind("momentum.", 0) != 0) continue;
    const std::string key = k.substr(9);
    auto in = std::find_if(net.param_info().begin(), net.param_info().end(),
                           [&](const ParamInfo& p) { return p.key == key && p.trainable; });
    if (in == net.param_info().end() || t.shape != in->shape)
      throw DataError(
          fmt::format("{}/optimizer/{}.npy: momentum of {} parameter '{}' has shape {} (was the "
                      "checkpoint edited? start again without --resume)",
                      ckpt, k, in == net.param_info().end() ? "an unknown" : "the", key, shape_str(t.shape)));
    sgd.state()[key] = std::move(t);
  }
}

}  // namespace

std::string run_fingerprint(const TrainConfig& c, const Graph& g) {
  // Options added later add nothing at their defaults, so older runs still resume.
  std::string tail =
      c.precision == Precision::fp32 ? "" : std::string(" precision=") + precision_name(c.precision);
  if (!c.hw.empty()) tail += fmt::format(" hw={} hw_samples={}", c.hw, c.hw_samples);
  if (!c.report_hw.empty())
    tail += fmt::format(" report_hw={} hw_report_samples={}", c.report_hw, c.hw_report_samples);
  return fmt::format(
      "model={} width={} in={} size={} classes={} data={} train_limit={} test_limit={} batch={} lr={} "
      "schedule={} "
      "gamma={} step={} momentum={} wd={} nesterov={} lambda={} sigma={} layers={} norm={} crop={} flip={} "
      "rotate={} "
      "seed={} conv={}{}",
      g.name, g.params.width, g.params.in_channels, g.params.input_size_yaml(), g.params.classes, c.dataset,
      c.train_limit, c.test_limit, c.batch, c.lr, schedule_name(c.schedule), c.gamma, c.step_size, c.momentum,
      c.weight_decay, c.nesterov, c.penalty.lambda, c.penalty.sigma, c.penalty.layers,
      penalty_norm_name(c.penalty.norm), c.augment.crop_pad, c.augment.flip, c.augment.rotate_deg, c.seed,
      c.fast_conv ? "winograd" : "direct", tail);
}

RunState::RunState(const TrainConfig& cfg, const Graph& g)
    : cfg_(cfg),
      g_(g),
      fp_(run_fingerprint(cfg, g)),
      ckpt_(cfg.out_dir + "/checkpoint"),
      csv_path_(cfg.out_dir + "/metrics.csv") {}

void RunState::add_step(const LossParts& lp, int n) {
  ++total_steps;
  sum_loss += lp.loss * n, sum_ce += lp.ce * n, sum_penalty += lp.penalty * n;
  correct += lp.correct, seen += n;
}

void RunState::fill_train_metrics(EpochMetrics& m) const {
  m.loss = sum_loss / seen, m.ce = sum_ce / seen, m.penalty = sum_penalty / seen;
  m.train_acc = static_cast<double>(correct) / seen;
  m.seconds = seconds, m.images_per_s = seen / std::max(seconds, 1e-9);
}

void RunState::finish_epoch(const std::string& row) {
  csv_rows_.push_back(row);
  sum_loss = sum_ce = sum_penalty = seconds = 0;
  correct = seen = 0;
  write_csv();
}

void RunState::start_new() const {
  std::error_code ec;
  if (fs::exists(ckpt_, ec))
    throw UsageError(
        fmt::format("{}: holds a run already (use --resume to continue it, or another --out)", cfg_.out_dir));
}

void RunState::restore(Net& net, Sgd& sgd, int64_t batches_per_epoch) {
  std::error_code ec;
  if (!fs::exists(ckpt_ + "/checkpoint.yaml", ec))
    throw DataError(fmt::format("{}: no checkpoint to resume from (start without --resume)", ckpt_));
  CheckpointMeta pre = read_checkpoint_meta(ckpt_);
  auto it = pre.info.find("config");
  if (it == pre.info.end() || it->second != fp_)
    throw DataError(fmt::format(
        "{}: the checkpoint is of another run configuration: {} (resume with the same "
        "options, or start a new --out)",
        ckpt_, it == pre.info.end() ? "no configuration recorded" : first_difference(it->second, fp_)));
  std::map<std::string, Tensor> extra;
  CheckpointMeta meta = load_checkpoint(ckpt_, net, &extra);
  restore_momentum(ckpt_, net, sgd, extra);
  start_epoch = meta.epoch;
  if (start_epoch < 0 || start_epoch > cfg_.epochs)
    throw DataError(
        fmt::format("{}/checkpoint.yaml: epoch {} is outside 0..{} (resume with the run's --epochs)", ckpt_,
                    start_epoch, cfg_.epochs));
  restore_sums(meta, batches_per_epoch);
  restored_info = meta.info;
  if (fs::exists(csv_path_, ec)) read_csv_rows();
}

void RunState::restore_sums(const CheckpointMeta& meta, int64_t batches_per_epoch) {
  const double n_train = static_cast<double>(batches_per_epoch) * cfg_.batch, big = 9e15;
  start_pos = static_cast<int64_t>(parse_num(meta.info, "position", ckpt_, 0, n_train));
  kept_ = {meta.epoch, start_pos};
  total_steps = static_cast<int64_t>(parse_num(meta.info, "steps", ckpt_, 0, big));
  sum_loss = parse_num(meta.info, "sum_loss", ckpt_), sum_ce = parse_num(meta.info, "sum_ce", ckpt_);
  sum_penalty = parse_num(meta.info, "sum_penalty", ckpt_),
  seconds = parse_num(meta.info, "seconds", ckpt_, 0);
  seen = static_cast<int64_t>(parse_num(meta.info, "seen", ckpt_, 0, n_train));
  correct = static_cast<int64_t>(parse_num(meta.info, "correct", ckpt_, 0, static_cast<double>(seen)));
}

// Rows of the finished epochs, in order: each must start with its epoch number.
void RunState::read_csv_rows() {
  std::istringstream in(read_text<DataError>(csv_path_));
  std::string line;
  std::getline(in, line);
  for (int row = 2, want = 0; std::getline(in, line); ++row) {
    if (line.empty()) continue;
    ++want;
    int e = 0;
    auto [p, err] = std::from_chars(line.data(), line.data() + line.size(), e);
    if (err != std::errc() || p == line.data() + line.size() || *p != ',' || e != want)
      throw DataError(
          fmt::format("{}:{}: not the row of epoch {} (was the file edited? remove the line, or start "
                      "again without --resume)",
                      csv_path_, row, want));
    if (e <= start_epoch) csv_rows_.push_back(line);
  }
}

void RunState::write_csv() const {
  std::string s;
  for (const auto& c : metrics_columns(g_, !cfg_.hw.empty() || !cfg_.report_hw.empty()))
    s += (s.empty() ? "" : ",") + c;
  s += "\n";
  for (const auto& r : csv_rows_) s += r + "\n";
  atomic_write(csv_path_, s);
}

void RunState::save(const Net& net, Sgd& sgd, int epoch, int64_t pos, int64_t step,
                    std::optional<double> test_acc) {
  CheckpointMeta m;
  m.model = g_.name;
  m.params = g_.params;
  m.epoch = epoch;
  m.info = {{"config", fp_},
            {"position", std::to_string(pos)},
            {"steps", std::to_string(total_steps)},
            {"sum_loss", num(sum_loss)},
            {"sum_ce", num(sum_ce)},
            {"sum_penalty", num(sum_penalty)},
            {"correct", std::to_string(correct)},
            {"seen", std::to_string(seen)},
            {"seconds", num(seconds)},
            {"lambda", num(cfg_.penalty.lambda)},
            {"sigma", num(cfg_.penalty.sigma)},
            {"dataset", cfg_.dataset}};
  if (test_acc) m.info["test_acc"] = num(*test_acc);
  for (const auto& [k, v] : extra_info) m.info[k] = v;
  std::map<std::string, Tensor> extra;
  for (const auto& [k, t] : sgd.state()) extra["momentum." + k] = t;
  try {
    save_checkpoint(ckpt_, net, m, extra);
  } catch (const NumericError& e) {  // a NaN/inf parameter or buffer: never published
    // "<dir>: tensor 'K' holds inf at index I; the checkpoint was not written"
    std::string msg = e.what();
    size_t p = msg.find(": tensor '", ckpt_.size()), q = msg.find(';', p == std::string::npos ? 0 : p);
    throw diverged(epoch - (pos == 0 ? 1 : 0), step,
                   p == std::string::npos || q == std::string::npos
                       ? std::string("a parameter or buffer is not finite")
                       : msg.substr(p + 2, q - p - 2));
  }
  kept_ = {epoch, pos};
}

NumericError RunState::diverged(int epoch, int64_t step, const std::string& what) const {
  std::string cause = cfg_.penalty.lambda > 0 && cfg_.penalty.sigma < 1e-6
                          ? fmt::format("σ = {} is probably too small (try 1e-4)", cfg_.penalty.sigma)
                          : fmt::format("λ = {} or the learning rate {} is probably too large",
                                        cfg_.penalty.lambda, schedule_lr(cfg_, epoch));
  std::string where =
      kept_.epoch < 0
          ? "no checkpoint was written before it diverged (nothing to resume: change the options and start "
            "again)"
          : fmt::format("the last good checkpoint ({}) is kept in {}",
                        kept_.position == 0
                            ? fmt::format("after epoch {}", kept_.epoch)
                            : fmt::format("epoch {}, sample {}", kept_.epoch + 1, kept_.position),
                        ckpt_);
  return NumericError(fmt::format("{}: training diverged at epoch {}, step {} ({}): {}; {}", cfg_.out_dir,
                                  epoch + 1, step, what, cause, where));
}

}  // namespace eatsim
