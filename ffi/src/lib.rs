//! C ABI over toolhive-core (being written).
