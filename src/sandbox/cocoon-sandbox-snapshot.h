/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include "cocoon-sandbox-private.h"

G_BEGIN_DECLS

/* on the worker, after every change: a new snapshot for D-Bus and cocoonctl */
void cocoon_sandbox_notify(CocoonSandbox *sandbox);

G_END_DECLS
