package api

import "github.com/aws/aws-lambda-go/events"

// WalkEvent is DecodeEvent's walk alone: ok is false where DecodeEvent
// would leave the event to encoding/json.
func WalkEvent(data []byte) (ev events.APIGatewayProxyRequest, ok bool) {
	d := eventDecoder{data: data}
	ok = d.event(&ev)
	return ev, ok
}
