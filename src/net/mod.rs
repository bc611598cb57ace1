//! Declarative networking: the x-network config model, the planner and the netlink operations.
