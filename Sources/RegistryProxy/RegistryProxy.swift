// RegistryProxy: the upstream client and the pull-through cache (issue 3).
