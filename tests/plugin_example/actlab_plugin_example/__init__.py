"""An example actlab plugin. This package module stays free of torch: the API imports its
`catalog` submodule, and only workers import `activations`."""
