#include "CPierSystem.h"
