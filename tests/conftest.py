import os

# Tests are small; keep XLA from grabbing every core so pytest stays responsive.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
