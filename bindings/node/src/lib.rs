//! Node binding over toolhive-core (being written).
