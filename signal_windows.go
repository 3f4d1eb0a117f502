package goworld

// onFreezeSignal does nothing on Windows: there is no SIGUSR1, and hot
// reload is not supported there (goworldctl reload says so).
func onFreezeSignal(func()) (stop func()) { return func() {} }
