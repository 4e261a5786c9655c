// Testbench for the clocked model's wiring: DRAM responses randomly stalled (a test-only knob; the
// model is deterministic), a scoreboard on the channels (every transfer answered once, in order,
// with its bytes; no fold computes before its data is in; nothing outstanding at a row's end), and
// every event count still equal to the fast engine's — only waiting cycles may grow.
#include <gtest/gtest.h>

#include <map>

#include "base/errors.hpp"
#include "sim/systemc/clocked.hpp"
#include "tests/sim/systemc/random_cases.hpp"

namespace eatsim::sim {
namespace {

using sysc::WireEvent;

class Scoreboard {
 public:
  void operator()(const WireEvent& e) {
    switch (e.kind) {
      case WireEvent::request:
        EXPECT_EQ(e.cycle, e.req.issued) << "the DMA forwards a request in the clock it was issued";
        queue_.push_back(e.req);
        if (e.req.buf < kNumBufs) ++unfilled_[e.req.fold];
        ++requests;
        break;
      case WireEvent::response: {
        ASSERT_FALSE(queue_.empty()) << "a response nobody asked for: " << e.resp;
        const sysc::MemRequest& q = queue_.front();
        EXPECT_EQ(e.resp.id, q.id) << "responses come back in issue order";
        EXPECT_EQ(e.resp.fold, q.fold);
        EXPECT_EQ(e.resp.buf, q.buf);
        EXPECT_EQ(e.resp.bytes, q.bytes);
        EXPECT_GE(e.resp.at, q.issued + 1) << "a transfer takes at least one clock";
        EXPECT_EQ(e.cycle + 1, e.resp.at) << "a completion reaches the array in time for its cycle";
        queue_.pop_front();
        break;
      }
      case WireEvent::fill:
        EXPECT_LT(e.resp.buf, kNumBufs);
        fill_bytes[e.resp.buf] += e.resp.bytes;
        --unfilled_[e.resp.fold];
        break;
      case WireEvent::fold_start:
        if (waits_for_data) {
          EXPECT_EQ(unfilled_[e.fold], 0) << "fold " << e.fold << " began before its data was in";
        }
        ++folds;
        break;
      case WireEvent::row_end:
        EXPECT_TRUE(queue_.empty()) << "a row ended with transfers outstanding";
        ++rows;
        unfilled_.clear();
        break;
    }
  }
  bool waits_for_data = true;  // false in SCALE-Sim's model, which never waits for DRAM
  int64_t requests = 0, folds = 0, rows = 0;
  int64_t fill_bytes[kNumBufs] = {0, 0, 0};

 private:
  std::deque<sysc::MemRequest> queue_;
  std::map<int64_t, int> unfilled_;
};

// Test hooks off again whatever happens.
struct Hooks {
  Hooks(const sysc::DramStalls& s, Scoreboard& sb) {
    sysc::set_dram_stalls(s);
    sysc::set_wire_observer([&sb](const WireEvent& e) { sb(e); });
  }
  ~Hooks() {
    sysc::set_dram_stalls({});
    sysc::set_wire_observer(nullptr);
  }
};

// The SparseFrontEnd module's totals, counted from the array's per-clock activity messages, are
// the engine's front-end counters.
void expect_front_end_saw(const Counters& c) {
  sysc::FrontEndTotals t = sysc::front_end_totals();
  EXPECT_EQ(t.push, c.fe_fifo_push);
  EXPECT_EQ(t.pop, c.fe_fifo_pop);
  EXPECT_EQ(t.reader_stall, c.fe_reader_stall);
  EXPECT_EQ(t.port_wait, c.fe_port_wait);
  EXPECT_EQ(t.feed_wait, c.fe_feed_wait);
  EXPECT_LE(t.active_cycles, c.cycles_stream);
}

TEST(ClockedTestbench, StalledDramResponsesChangeOnlyWaitingCyclesAndTheScoreboardBalances) {
  sysc::install();
  std::mt19937 rng(99);
  int ran = 0, slower = 0;
  for (int trial = 0; trial < 80; ++trial) {
    test::RandomHw h = test::random_hw(rng);
    if (h.hw.scalesim_compat) continue;  // SCALE-Sim's model never waits for DRAM
    LayerGroup row = test::random_row(rng, "row");
    test::RowData data = test::random_data(rng, row);
    LayerData view = data.view();
    Counters fast;
    try {
      fast = simulate_group(h.hw, row, 0, Fidelity::fast, {&view});
    } catch (const ConfigError&) {
      continue;
    }
    Scoreboard sb;
    sysc::DramStalls s;
    s.move_stall = std::uniform_real_distribution<double>(0, 0.6)(rng);
    s.max_response_delay = std::uniform_int_distribution<int>(0, 30)(rng);
    s.seed = uint64_t(trial) + 1;
    Counters stalled;
    sysc::reset_front_end_totals();
    {
      Hooks hooks(s, sb);
      stalled = simulate_group(h.hw, row, 0, Fidelity::cycle, {&view});
    }
    expect_front_end_saw(stalled);
    SCOPED_TRACE(h.text);
    EXPECT_EQ(sb.rows, row.shape.groups);  // a grouped conv runs each group as a row of its own
    EXPECT_EQ(sb.folds, fast.folds);
    for (int b = 0; b < kNumBufs; ++b) EXPECT_EQ(sb.fill_bytes[b], fast.dram_rd(b)) << buffer_name(b);
    // Everything but the cycles spent waiting for DRAM is the fast engine's; the PPU works through
    // the waits, so its tail can only shrink, by no more than the waits grew.
    Counters a = fast, c = stalled;
    EXPECT_GE(c.cycles_stall, a.cycles_stall);
    EXPECT_GE(c.cycles_stall + c.cycles_writeback, a.cycles_stall + a.cycles_writeback);
    EXPECT_LE(c.cycles_ppu_tail, a.cycles_ppu_tail);
    EXPECT_GE(c.total_cycles(), a.total_cycles());
    slower += c.total_cycles() > a.total_cycles();
    a.cycles_stall = c.cycles_stall = a.cycles_writeback = c.cycles_writeback = 0;
    a.cycles_ppu_tail = c.cycles_ppu_tail = 0;
    EXPECT_EQ(test::counter_diff(a, c), "");
    ++ran;
  }
  EXPECT_GT(ran, 25);
  EXPECT_GT(slower, ran / 2) << "the stalls must actually bite";
}

TEST(ClockedTestbench, UnstalledScoreboardSeesExactlyTheFastEnginesTransfers) {
  sysc::install();
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    test::RandomHw h = test::random_hw(rng);
    LayerGroup row = test::random_row(rng, "row");
    test::RowData data = test::random_data(rng, row);
    LayerData view = data.view();
    Counters fast;
    try {
      fast = simulate_group(h.hw, row, 1, Fidelity::fast, {&view});
    } catch (const ConfigError&) {
      continue;
    }
    Scoreboard sb;
    sb.waits_for_data = !h.hw.scalesim_compat;
    Counters cyc;
    sysc::reset_front_end_totals();
    {
      Hooks hooks({}, sb);
      cyc = simulate_group(h.hw, row, 1, Fidelity::cycle, {&view});
    }
    expect_front_end_saw(cyc);
    SCOPED_TRACE(h.text);
    EXPECT_EQ(test::counter_diff(fast, cyc), "");
    EXPECT_EQ(sb.rows, row.shape.groups);  // a grouped conv runs each group as a row of its own
    for (int b = 0; b < kNumBufs; ++b) EXPECT_EQ(sb.fill_bytes[b], fast.dram_rd(b)) << buffer_name(b);
  }
}

}  // namespace
}  // namespace eatsim::sim
