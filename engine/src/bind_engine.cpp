#include "bindings.h"

namespace tonemorph {

void bind_engine(py::module_& m) { (void)m; }

}  // namespace tonemorph
