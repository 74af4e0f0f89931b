PENDING_KEY = "coordinator:pending"
IN_PARALLEL_KEY = "temp:in_parallel_branch"
