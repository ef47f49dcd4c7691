// Everything a plugin author needs, in one include.
#pragma once

#include "ami/plugin/abi.h"
#include "ami/plugin/call.h"
#include "ami/plugin/ccxt.h"
#include "ami/plugin/connector_base.h"
#include "ami/plugin/errors.h"
#include "ami/plugin/exchange_connector.h"
#include "ami/plugin/export.h"
#include "ami/plugin/plugin.h"
#include "ami/plugin/template_pack.h"
