//! What a UI reads every frame.
