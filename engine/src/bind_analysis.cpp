#include "bindings.h"

namespace tonemorph {

void bind_analysis(py::module_& m) { (void)m; }

}  // namespace tonemorph
