// Model graph analysis used by the parser.
#pragma once
#include "models/graph.hpp"

namespace eatsim {
namespace yamlu {
struct Diag;
}

// Puts the nodes in execution order (a cycle throws ModelError) and infers every node's output
// shape; a shape that does not fit is recorded in `d` and left empty.
void order_and_infer(Graph& g, yamlu::Diag& d);

}  // namespace eatsim
