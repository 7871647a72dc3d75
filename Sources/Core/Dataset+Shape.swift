extension Dataset {
    /// Checks that the data fits a network: n0 features, labels the output can represent.
    public func validate(for shape: NetworkShape) throws(DatasetError) {
        try validateFeatureCount(shape.inputs)
        try validateLabels(classes: OutputLayer.labelCount(outputs: shape.outputs))
    }
}
