//! Python binding over toolhive-core (being written).
