"""Functional meta-RL environments: `envs.make(name, **kwargs)`, `envs.names()`."""
from envs.core import Box, Discrete, MetaEnv, StepInfo, TaskInfo, TaskInfoSpec
from envs.registry import env_kwargs, make, names
from envs.wrappers import TaskSet, TrialState, TrialWrapper

__all__ = ["Box", "Discrete", "MetaEnv", "StepInfo", "TaskInfo", "TaskInfoSpec", "TaskSet",
           "TrialState", "TrialWrapper", "env_kwargs", "make", "names"]
