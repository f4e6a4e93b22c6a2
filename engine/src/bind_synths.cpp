#include "bindings.h"

namespace tonemorph {

void bind_synths(py::module_& m) { (void)m; }

}  // namespace tonemorph
