// Package action holds no code: its tests check the composite GitHub
// Action at the repository root (action.yml and the scripts beside this
// file) by running it as the runner would, and check the workflow and
// Kubernetes examples of docs/github-action.md and docs/scale-out.md.
package action
