"""Work orders (工单): intake, dispatch, working-day deadlines, supervision, callback."""
