package server

// The leader's halves of the leader-bound member calls (the cluster role,
// server/internal/cluster, carries them; role_cluster.go binds them).

// applyCommand applies an encoded command on this member, the raft
// leader, and folds the FSM's refusal into the error.
func (s *Server) applyCommand(data []byte) (uint64, error) {
	res, err := s.applyLocal(data)
	if err != nil {
		return 0, err
	}
	return res.Epoch, res.Err
}
