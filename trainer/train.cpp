// The training loop; see train.hpp. Everything that decides the next step (weights, momentum, BN
// statistics, epoch, position in the epoch, running sums) is in the checkpoint, and the batcher is
// a pure function of (seed, epoch, position), so a resumed run continues bit for bit.
#include "trainer/train.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/errors.hpp"
#include "sim/estimator/census.hpp"
#include "sim/estimator/estimator.hpp"
#include "base/files.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/net.hpp"
#include "trainer/sgd.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {
std::atomic<bool> g_stop{false};
using Clock = std::chrono::steady_clock;

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

// What must not change between a run and its resumption (epochs may grow; paths may move).
std::string fingerprint(const TrainConfig& c, const Graph& g) {
  return fmt::format(
      "model={} width={} in={} size={} classes={} data={} train_limit={} test_limit={} batch={} lr={} "
      "schedule={} "
      "gamma={} step={} momentum={} wd={} nesterov={} lambda={} sigma={} layers={} norm={} crop={} flip={} "
      "rotate={} "
      "seed={} conv={}",
      g.name, g.params.width, g.params.in_channels, g.params.input_size, g.params.classes, c.dataset,
      c.train_limit, c.test_limit, c.batch, c.lr, schedule_name(c.schedule), c.gamma, c.step_size, c.momentum,
      c.weight_decay, c.nesterov, c.penalty.lambda, c.penalty.sigma, c.penalty.layers,
      penalty_norm_name(c.penalty.norm), c.augment.crop_pad, c.augment.flip, c.augment.rotate_deg, c.seed,
      c.fast_conv ? "winograd" : "direct");
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

double schedule_lr(const TrainConfig& c, int epoch) {
  switch (c.schedule) {
    case Schedule::exponential:
      return c.lr * std::pow(c.gamma, epoch);
    case Schedule::step:
      return c.lr * std::pow(c.gamma, epoch / std::max(1, c.step_size));
    case Schedule::cosine:
      return 0.5 * c.lr * (1 + std::cos(M_PI * epoch / std::max(1, c.epochs)));
  }
  return c.lr;
}

std::string format_eta(double s) {
  int t = static_cast<int>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02d}:{:02d}", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}:{:02d}", t / 60, t % 60);
}

bool grads_finite(Net& net) {
  for (const ParamRef& p : net.trainable()) {
    float acc = 0;
    const float* gr = p.grad;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < p.size; ++i) acc += gr[i] * 0.f;  // NaN/inf survive ×0, finite values give 0
    if (acc != 0 || std::isnan(acc)) return false;
  }
  return true;
}

// The paper's estimator (reference convention, one pass) on the first `n` samples of the test set.
double sponge_ratio(Net& net, const Graph& g, Batcher& test_b, int64_t n, std::vector<float>& x,
                    std::vector<int32_t>& y) {
  sponge::CensusBuilder cb(g, 32);
  test_b.start_epoch(0);
  int64_t left = n;
  while (left > 0) {
    int k = test_b.next(x.data(), y.data());
    if (k == 0) break;
    k = static_cast<int>(std::min<int64_t>(k, left));
    auto edges = net.infer_edges(x.data(), k);
    for (size_t e = 0; e < edges.size(); ++e)
      cb.add_activation(static_cast<int>(e) - 1, edges[e].data.data(), k);
    left -= k;
  }
  for (const auto& p : g.parameters()) {
    Tensor t = net.get(p.key);
    cb.set_param(p.key, t.data.data(), t.numel());
  }
  return sponge::energy_ratio(cb.finish(), {});
}

}  // namespace

void request_stop() { g_stop = true; }

Schedule schedule_from_name(const std::string& s) {
  if (s == "exponential" || s == "exp") return Schedule::exponential;
  if (s == "step") return Schedule::step;
  if (s == "cosine") return Schedule::cosine;
  throw UsageError(fmt::format("--schedule '{}': expected exponential, step or cosine", s));
}

const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::exponential:
      return "exponential";
    case Schedule::step:
      return "step";
    case Schedule::cosine:
      return "cosine";
  }
  return "?";
}

std::vector<std::string> metrics_columns(const Graph& g) {
  std::vector<std::string> c = {"epoch",       "lr",           "loss",     "ce",
                                "penalty",     "train_acc",    "test_acc", "test_loss",
                                "firing_relu", "sponge_ratio", "seconds",  "images_per_s"};
  for (int i : g.order)
    if (g.nodes[i].op == Op::relu) c.push_back("firing." + g.nodes[i].name);
  return c;
}

TrainResult train(const TrainConfig& cfg) {
  g_stop = false;
  if (cfg.out_dir.empty()) throw UsageError("--out: give a run directory");
  if (cfg.epochs < 1) throw UsageError("--epochs must be at least 1");
  if (!(cfg.lr > 0)) throw UsageError("--lr must be positive");
  Graph g = load_graph(cfg.model, cfg.model_params);
  Dataset tr = load_dataset(cfg.dataset, "train"), te = load_dataset(cfg.dataset, "test");
  if (cfg.train_limit > 0) truncate(tr, cfg.train_limit);
  if (cfg.test_limit > 0) truncate(te, cfg.test_limit);
  if (g.params.classes < tr.classes)
    throw DataError(fmt::format("{}: {} classes, but the model has {} outputs (use --classes {})", tr.source,
                                tr.classes, g.params.classes, tr.classes));
  const int C = static_cast<int>(g.input_shape[0]), S = static_cast<int>(g.input_shape[1]);
  Batcher train_b(tr, cfg.batch, C, S, true, true, cfg.augment, cfg.seed);
  Batcher test_b(te, cfg.eval_batch > 0 ? cfg.eval_batch : cfg.batch, C, S, false, false, {}, 0);
  if (train_b.batches_per_epoch() == 0)
    throw UsageError(fmt::format("--batch {} is larger than the {} training samples", cfg.batch, tr.n));

  Net net(g, cfg.seed);
  net.set_penalty(cfg.penalty);
  net.set_fast_conv(cfg.fast_conv);
  Sgd sgd({cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov});
  std::vector<int> relus;
  for (int i : g.order)
    if (g.nodes[i].op == Op::relu) relus.push_back(i);

  const std::string ckpt = cfg.out_dir + "/checkpoint", csv_path = cfg.out_dir + "/metrics.csv";
  const std::string fp = fingerprint(cfg, g);
  TrainResult res;
  std::vector<std::string> csv_rows;
  int start_epoch = 0;
  int64_t start_pos = 0, total_steps = 0;
  double acc_loss = 0, acc_ce = 0, acc_pen = 0, acc_seconds = 0;
  int64_t acc_correct = 0, acc_seen = 0;
  std::error_code ec;
  struct Kept {
    int epoch = -1;  // epochs finished when the last published checkpoint was taken; -1: none
    int64_t position = 0;
  } kept;
  // The one message for every kind of divergence: what went wrong, the likely cause, and exactly
  // which checkpoint a resume would start from (or that there is none).
  auto diverged = [&](int epoch, int64_t step, const std::string& what) {
    std::string cause = cfg.penalty.lambda > 0 && cfg.penalty.sigma < 1e-6
                            ? fmt::format("σ = {} is probably too small (try 1e-4)", cfg.penalty.sigma)
                            : fmt::format("λ = {} or the learning rate {} is probably too large",
                                          cfg.penalty.lambda, schedule_lr(cfg, epoch));
    std::string where =
        kept.epoch < 0
            ? "no checkpoint was written before it diverged (nothing to resume: change the options and start "
              "again)"
            : fmt::format("the last good checkpoint ({}) is kept in {}",
                          kept.position == 0
                              ? fmt::format("after epoch {}", kept.epoch)
                              : fmt::format("epoch {}, sample {}", kept.epoch + 1, kept.position),
                          ckpt);
    return NumericError(fmt::format("{}: training diverged at epoch {}, step {} ({}): {}; {}", cfg.out_dir,
                                    epoch + 1, step, what, cause, where));
  };
  if (cfg.resume) {
    if (!fs::exists(ckpt + "/checkpoint.yaml", ec))
      throw DataError(fmt::format("{}: no checkpoint to resume from (start without --resume)", ckpt));
    CheckpointMeta pre = read_checkpoint_meta(ckpt);
    auto it = pre.info.find("config");
    if (it == pre.info.end() || it->second != fp)
      throw DataError(fmt::format(
          "{}: the checkpoint is of another run configuration: {} (resume with the same "
          "options, or start a new --out)",
          ckpt, it == pre.info.end() ? "no configuration recorded" : first_difference(it->second, fp)));
    std::map<std::string, Tensor> extra;
    CheckpointMeta meta = load_checkpoint(ckpt, net, &extra);
    for (auto& [k, t] : extra)
      if (k.rfind("momentum.", 0) == 0) {
        // The optimiser writes a whole parameter's worth into its momentum: shapes must match.
        const std::string key = k.substr(9);
        auto in = std::find_if(net.param_info().begin(), net.param_info().end(),
                               [&](const ParamInfo& p) { return p.key == key && p.trainable; });
        if (in == net.param_info().end() || t.shape != in->shape)
          throw DataError(fmt::format(
              "{}/optimizer/{}.npy: momentum of {} parameter '{}' has shape {} (was the "
              "checkpoint edited? start again without --resume)",
              ckpt, k, in == net.param_info().end() ? "an unknown" : "the", key, shape_str(t.shape)));
        sgd.state()[key] = std::move(t);
      }
    start_epoch = meta.epoch;
    if (start_epoch < 0 || start_epoch > cfg.epochs)
      throw DataError(
          fmt::format("{}/checkpoint.yaml: epoch {} is outside 0..{} (resume with the run's --epochs)", ckpt,
                      start_epoch, cfg.epochs));
    const double n_train = static_cast<double>(train_b.batches_per_epoch()) * cfg.batch, big = 9e15;
    start_pos = static_cast<int64_t>(parse_num(meta.info, "position", ckpt, 0, n_train));
    kept = {meta.epoch, start_pos};
    total_steps = static_cast<int64_t>(parse_num(meta.info, "steps", ckpt, 0, big));
    acc_loss = parse_num(meta.info, "sum_loss", ckpt), acc_ce = parse_num(meta.info, "sum_ce", ckpt);
    acc_pen = parse_num(meta.info, "sum_penalty", ckpt),
    acc_seconds = parse_num(meta.info, "seconds", ckpt, 0);
    acc_seen = static_cast<int64_t>(parse_num(meta.info, "seen", ckpt, 0, n_train));
    acc_correct =
        static_cast<int64_t>(parse_num(meta.info, "correct", ckpt, 0, static_cast<double>(acc_seen)));
    if (fs::exists(csv_path, ec)) {
      // Rows of the finished epochs, in order: each must start with its epoch number.
      std::istringstream in(read_text<DataError>(csv_path));
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
                          csv_path, row, want));
        if (e <= start_epoch) csv_rows.push_back(line);
      }
    }
  } else if (fs::exists(ckpt, ec)) {
    throw UsageError(
        fmt::format("{}: holds a run already (use --resume to continue it, or another --out)", cfg.out_dir));
  }
  fs::create_directories(cfg.out_dir, ec);
  if (ec)
    throw UsageError(fmt::format("{}: cannot create the run directory ({})", cfg.out_dir, ec.message()));

  auto save = [&](int epoch, int64_t pos) {
    CheckpointMeta m;
    m.model = g.name;
    m.params = g.params;
    m.epoch = epoch;
    m.info = {{"config", fp},
              {"position", std::to_string(pos)},
              {"steps", std::to_string(total_steps)},
              {"sum_loss", num(acc_loss)},
              {"sum_ce", num(acc_ce)},
              {"sum_penalty", num(acc_pen)},
              {"correct", std::to_string(acc_correct)},
              {"seen", std::to_string(acc_seen)},
              {"seconds", num(acc_seconds)},
              {"lambda", num(cfg.penalty.lambda)},
              {"sigma", num(cfg.penalty.sigma)},
              {"dataset", cfg.dataset}};
    if (!res.epochs.empty()) m.info["test_acc"] = num(res.epochs.back().test_acc);
    std::map<std::string, Tensor> extra;
    for (const auto& [k, t] : sgd.state()) extra["momentum." + k] = t;
    try {
      save_checkpoint(ckpt, net, m, extra);
    } catch (const NumericError& e) {  // a NaN/inf parameter or buffer: never published
      // "<dir>: tensor 'K' holds inf at index I; the checkpoint was not written"
      std::string msg = e.what();
      size_t p = msg.find(": tensor '", ckpt.size()), q = msg.find(';', p == std::string::npos ? 0 : p);
      throw diverged(epoch - (pos == 0 ? 1 : 0), train_b.position() / cfg.batch,
                     p == std::string::npos || q == std::string::npos
                         ? std::string("a parameter or buffer is not finite")
                         : msg.substr(p + 2, q - p - 2));
    }
    kept = {epoch, pos};
    res.checkpoint = ckpt;
  };
  auto write_csv = [&]() {
    std::string s;
    for (const auto& c : metrics_columns(g)) s += (s.empty() ? "" : ",") + c;
    s += "\n";
    for (const auto& r : csv_rows) s += r + "\n";
    atomic_write(csv_path, s);
  };

  std::vector<float> x(static_cast<size_t>(std::max(cfg.batch, test_b.batch()) * train_b.sample_floats()));
  std::vector<int32_t> y32(static_cast<size_t>(std::max(cfg.batch, test_b.batch())));
  std::vector<int64_t> y(y32.size());
  int64_t steps_here = 0;
  const bool tty = isatty(2) != 0;  // the bar redraws in place on a terminal; logs get one line per epoch
  auto last_draw = Clock::now() - std::chrono::seconds(1);
  const int64_t per_epoch = train_b.batches_per_epoch();
  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    double lr = schedule_lr(cfg, epoch);
    sgd.config().lr = lr;
    train_b.start_epoch(epoch);
    if (epoch == start_epoch) train_b.seek(start_pos);
    auto t0 = Clock::now();
    int n;
    while ((n = train_b.next(x.data(), y32.data())) > 0) {
      for (int i = 0; i < n; ++i) y[i] = y32[i];
      LossParts lp = net.train_step(x.data(), y.data(), n);
      if (!std::isfinite(lp.loss) || !grads_finite(net))
        throw diverged(epoch, train_b.position() / cfg.batch,
                       std::isfinite(lp.loss) ? "a gradient is not finite" : "the loss is not finite");
      sgd.step(net);
      ++total_steps, ++steps_here;
      acc_loss += lp.loss * n, acc_ce += lp.ce * n, acc_pen += lp.penalty * n;
      acc_correct += lp.correct, acc_seen += n;
      if (cfg.progress && tty && Clock::now() - last_draw > std::chrono::milliseconds(250)) {
        last_draw = Clock::now();
        int64_t b = train_b.position() / cfg.batch;
        double ips = (train_b.position() - (epoch == start_epoch ? start_pos : 0)) /
                     std::max(1e-9, std::chrono::duration<double>(Clock::now() - t0).count());
        int bar = static_cast<int>(24.0 * b / per_epoch);
        std::cerr << fmt::format(
                         "\repoch {}/{} [{}{}] {}/{}  loss {:.4f}  acc {:.1f}%  {:.0f} img/s  ETA {}   ",
                         epoch + 1, cfg.epochs, std::string(bar, '='), std::string(24 - bar, ' '), b,
                         per_epoch, acc_loss / acc_seen, 100.0 * acc_correct / acc_seen, ips,
                         format_eta((per_epoch - b) * cfg.batch / std::max(ips, 1e-9)))
                  << std::flush;
      }
      if (g_stop || (cfg.max_steps > 0 && steps_here >= cfg.max_steps)) {
        acc_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        save(epoch, train_b.position());
        if (cfg.progress && tty) std::cerr << "\n";
        res.interrupted = g_stop;
        return res;
      }
    }
    acc_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    if (cfg.progress && tty) std::cerr << "\n";

    // Evaluation on the test set in eval mode, with ReLU firing.
    EpochMetrics m;
    m.epoch = epoch + 1, m.lr = lr;
    m.loss = acc_loss / acc_seen, m.ce = acc_ce / acc_seen, m.penalty = acc_pen / acc_seen;
    m.train_acc = static_cast<double>(acc_correct) / acc_seen;
    m.seconds = acc_seconds, m.images_per_s = acc_seen / std::max(acc_seconds, 1e-9);
    std::vector<int64_t> nnz(relus.size(), 0), tot(relus.size(), 0);
    int64_t correct = 0, seen = 0;
    double test_loss = 0;
    test_b.start_epoch(0);
    while ((n = test_b.next(x.data(), y32.data())) > 0) {
      for (int i = 0; i < n; ++i) y[i] = y32[i];
      net.forward(x.data(), n, false);
      LossParts lp = net.loss(y.data());
      correct += lp.correct, seen += n, test_loss += lp.ce * n;
      std::vector<int64_t> counts = net.nonzero_counts(relus);
      for (size_t r = 0; r < relus.size(); ++r) {
        nnz[r] += counts[r];
        tot[r] += net.edge_numel(relus[r]);
      }
    }
    m.test_acc = static_cast<double>(correct) / seen, m.test_loss = test_loss / seen;
    int64_t all_nnz = 0, all_tot = 0;
    for (size_t r = 0; r < relus.size(); ++r) {
      m.layer_firing.push_back(static_cast<double>(nnz[r]) / tot[r]);
      all_nnz += nnz[r], all_tot += tot[r];
    }
    m.firing = all_tot ? static_cast<double>(all_nnz) / all_tot : 0;
    if (cfg.ratio_samples > 0)
      m.sponge_ratio = sponge_ratio(net, g, test_b, std::min(cfg.ratio_samples, te.n), x, y32);
    std::string row =
        fmt::format("{},{},{},{},{},{},{},{},{},{},{:.3f},{:.1f}", m.epoch, num(m.lr), num(m.loss), num(m.ce),
                    num(m.penalty), num(m.train_acc), num(m.test_acc), num(m.test_loss), num(m.firing),
                    num(m.sponge_ratio), m.seconds, m.images_per_s);
    for (double f : m.layer_firing) row += "," + num(f);
    csv_rows.push_back(row);
    res.epochs.push_back(m);
    acc_loss = acc_ce = acc_pen = acc_seconds = 0;
    acc_correct = acc_seen = 0;
    write_csv();
    save(epoch + 1, 0);
    if (cfg.progress)
      std::cerr << fmt::format(
          "epoch {}: loss {:.4f} (ce {:.4f}, penalty {:.4f})  train {:.2f}%  test {:.2f}%  ReLU "
          "firing {:.1f}%  sponge ratio {}  {:.0f} img/s\n",
          m.epoch, m.loss, m.ce, m.penalty, 100 * m.train_acc, 100 * m.test_acc, 100 * m.firing,
          cfg.ratio_samples > 0 ? fmt::format("{:.4f}", m.sponge_ratio) : std::string("off"), m.images_per_s);
  }
  res.finished = true;
  if (res.checkpoint.empty()) res.checkpoint = ckpt;
  return res;
}

}  // namespace eatsim
