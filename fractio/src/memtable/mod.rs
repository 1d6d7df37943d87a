//! The memtable: a concurrent arena skiplist (to be written).
