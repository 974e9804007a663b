package qwenedit

import (
	"fmt"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/wire"
)

// The API's JSON is read by internal/wire, leniently (see its package
// comment); this file turns what it read into the SDK's types.

// decodeTask parses the answer of a submit or a poll. Only a body that is
// not a JSON object, has no task_info object, or no usable id (a string,
// or a number kept as written) is ErrUnexpectedResponse: a task the server
// created must not be lost over a cosmetic field.
func decodeTask(body []byte) (*Task, error) {
	t, err := readTask(body)
	if err == nil && strings.TrimSpace(t.ID) == "" {
		err = wire.ErrNoTaskID
	}
	if err != nil {
		// The answer's start, quoted, for whoever debugs it.
		return nil, fmt.Errorf("%w: %w (the answer began %.200q)", ErrUnexpectedResponse, err, body)
	}
	return t, nil
}

// readTask reads a task answer, the API's or a Task's own JSON, without
// requiring an id.
func readTask(body []byte) (*Task, error) {
	w, err := wire.ReadTask(body)
	if err != nil {
		return nil, err
	}
	return &Task{
		TaskInfo: TaskInfo{
			ID: w.ID, Status: TaskStatus(w.Status), Error: (*TaskError)(w.Error),
			CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		},
		Images: w.Images,
	}, nil
}

// parseErrorBody reads an error answer's body: its message and numeric
// code. A body that is not JSON but short plain text is the message.
func parseErrorBody(body []byte) (string, int) { return wire.ErrorBody(body) }
